"""The portal's Redis cache clears only its own keys: Django's ``clear()`` flushes the
whole Redis database, which would empty the Celery queues sharing it and another
process's cache (a parallel test worker, a second portal on the same Redis)."""

from __future__ import annotations

from typing import Any

import redis

from portal.cache import PortalRedisCache


def test_clear_leaves_other_prefixes_and_the_broker_alone(require_redis: str) -> None:
    mine = PortalRedisCache(require_redis, {"KEY_PREFIX": "clear-test-mine"})
    theirs = PortalRedisCache(require_redis, {"KEY_PREFIX": "clear-test-theirs"})
    raw: Any = redis.Redis.from_url(require_redis)
    try:
        for n in range(1500):  # more than one delete batch
            mine.set(f"k{n}", n)
        theirs.set("k1", "kept")
        raw.lpush("clear-test-queue", "a task")  # what a Celery queue looks like
        mine.clear()
        assert mine.get("k1") is None and mine.get("k1499") is None
        assert theirs.get("k1") == "kept"
        assert raw.lrange("clear-test-queue", 0, -1) == [b"a task"]
    finally:
        theirs.clear()
        raw.delete("clear-test-queue")
