"""System checks of the project (``manage.py check --deploy``; the worker logs them too).

The Redis memory budget: Redis holds the Celery broker's queues (keys without a lifetime)
and the cache (slice PNGs and the rest, all with a lifetime). Only ``maxmemory`` with
``volatile-lru`` (or another ``volatile-*`` policy) bounds the cache without ever
evicting a queued task; ``noeviction`` fails writes when memory is full, ``allkeys-*``
may evict queued tasks, and ``maxmemory 0`` lets Redis grow until the host runs out.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, register
from django.core.checks import Warning as CheckWarning

HINT = (
    "Run Redis with e.g. `--maxmemory 512mb --maxmemory-policy volatile-lru` "
    "(docs/deployment.md, Redis memory budget)."
)


def redis_memory_problems(info: dict[str, Any]) -> list[str]:
    """What is wrong with a Redis server's memory settings (``INFO memory``) for the portal."""
    problems = []
    if not int(info.get("maxmemory", 0) or 0):
        problems.append(
            "Redis has no memory limit (maxmemory 0): the cache grows until the host runs out"
        )
    policy = str(info.get("maxmemory_policy", ""))
    if policy == "noeviction":
        problems.append(
            "Redis evicts nothing (maxmemory-policy noeviction): once full, writes fail"
        )
    elif policy.startswith("allkeys-"):
        problems.append(
            f"Redis may evict any key (maxmemory-policy {policy}): queued Celery tasks too"
        )
    return problems


def redis_location() -> str | None:
    """The Redis server of the default cache, if the cache is Redis."""
    cache = settings.CACHES["default"]
    if not str(cache.get("BACKEND", "")).endswith("RedisCache"):
        return None
    location = cache.get("LOCATION")
    return str(location[0] if isinstance(location, list | tuple) else location)


@register(Tags.caches, deploy=True)
def check_redis_memory(app_configs: Any = None, **kwargs: Any) -> list[CheckWarning]:
    url = redis_location()
    if url is None:
        return []
    import redis

    try:
        info = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).info("memory")
    except redis.RedisError as exc:
        return [
            CheckWarning(
                f"Redis memory settings not checked: {type(exc).__name__}",
                hint=HINT,
                id="portal.W002",
            )
        ]
    return [CheckWarning(p, hint=HINT, id="portal.W001") for p in redis_memory_problems(info)]
