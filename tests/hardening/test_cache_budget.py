"""The hot slice cache stays within a memory budget.

Redis: a private ``redis-server`` with ``--maxmemory 8mb --maxmemory-policy volatile-lru``
(as docker-compose.yml runs it, smaller) takes three times more slice PNGs than fit,
written by the portal's own cache code: memory stays under the budget, no write fails,
and a Celery message queued on the same server (no lifetime) survives. With
``noeviction`` (Redis' default) the same writes fail, so the test can tell the two apart.
The system check (``portal/checks.py``) names the bad settings.

Embedded mode: the file cache stops at ``CACHE_MAX_ENTRIES``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, missing
from tests.hardening.conftest import free_port
from tests.hardening.test_faults import celery_broker, queue_key
from uploads.models import Instance
from uploads.viewer import rendering
from uploads.viewer.rendering import SliceParams

BUDGET = 8 * 1024**2


def start_redis(folder: Path, policy: str) -> Iterator[Any]:
    import redis

    if not shutil.which("redis-server"):
        missing("redis-server not installed")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--maxmemory", str(BUDGET),
         "--maxmemory-policy", policy],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the private redis-server did not start")
            time.sleep(0.05)
    try:
        yield client, f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["volatile-lru", "noeviction"])
def private_redis(request: Any, tmp_path: Path, settings: Any) -> Iterator[tuple[Any, str]]:
    for client, url in start_redis(tmp_path, request.param):
        settings.CACHES = {"default": {"BACKEND": "portal.cache.PortalRedisCache",
                                       "LOCATION": url}}  # fmt: skip
        yield client, request.param


@pytest.mark.django_db
def test_slice_pngs_stay_within_the_redis_budget(
    private_redis: tuple[Any, str], imported_study: Any, caplog: Any
) -> None:
    from portal.celery import app

    client, policy = private_redis
    # A real task message on the same server, as the broker keeps it: a list, no lifetime.
    port = client.connection_pool.connection_kwargs["port"]
    with celery_broker(f"redis://127.0.0.1:{port}/0"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # send_task always sends, eager or not: as meant
        app.send_task("uploads.tasks.prerender_study", (imported_study.pk,))
    queue = queue_key()
    assert client.llen(queue) == 1 and client.ttl(queue) == -1

    instances = list(Instance.objects.filter(series__study=imported_study))
    # 512 pixels wide, as a CT slice (the MR's own 256 make smaller PNGs).
    size = len(rendering.render_slice(instances[0], SliceParams(size=512))[0])
    count = 3 * BUDGET // size  # three times what fits
    peak = 0
    caplog.set_level(logging.WARNING, logger="uploads.viewer.rendering")
    for n in range(count):  # real renders, each stored by the portal's cache code
        instance = instances[n % len(instances)]
        rendering.render_slice(instance, SliceParams(center=float(n), width=400.0, size=512))
        peak = max(peak, int(client.info("memory")["used_memory"]))
    failed = [r for r in caplog.records if "slice cache unavailable" in r.getMessage()]

    if policy == "noeviction":  # Redis' default: once full, the portal's writes fail
        assert failed and int(client.info("stats")["evicted_keys"]) == 0
        return
    assert failed == []  # every write was taken
    print(f"{count} PNGs of {size} bytes, peak {peak} bytes of {BUDGET}")
    assert int(client.info("stats")["evicted_keys"]) > count // 2  # the budget did work
    # Redis evicts before each write: at most one PNG (and its key) above the budget.
    assert peak <= BUDGET + size + 64 * 1024, (peak, size)
    assert client.llen(queue) == 1  # the queued task was never evicted
    body = json.loads(client.lindex(queue, 0))
    assert body["headers"]["task"] == "uploads.tasks.prerender_study"
    # The newest slices are there, with the short lifetime of the hot tier.
    last = SliceParams(center=float(count - 1), width=400.0, size=512)
    assert rendering.cached_slice(instances[(count - 1) % len(instances)], last) is not None
    keys = client.keys("*png:*")
    assert keys and 0 < client.ttl(keys[0]) <= 3600


def test_the_system_check_names_a_redis_without_a_budget(
    private_redis: tuple[Any, str], settings: Any, caplog: Any
) -> None:
    from portal.checks import check_redis_memory

    client, policy = private_redis
    if policy == "volatile-lru":
        assert check_redis_memory() == []
        client.config_set("maxmemory", 0)
        assert [w.id for w in check_redis_memory()] == ["portal.W001"]
        assert "maxmemory 0" in check_redis_memory()[0].msg
        client.config_set("maxmemory-policy", "allkeys-lru")
        assert "queued Celery tasks" in check_redis_memory()[1].msg
    else:
        (warning,) = check_redis_memory()
        assert "noeviction" in warning.msg
        # A worker logs the same when it starts (the worker_ready signal's receiver).
        from portal.celery import warn_about_redis_memory

        with caplog.at_level(logging.WARNING, logger="portal.checks"):
            warn_about_redis_memory()
        assert any("noeviction" in r.getMessage() for r in caplog.records)
    settings.CACHES = {"default": {"BACKEND": "portal.cache.PortalRedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}  # fmt: skip
    assert [w.id for w in check_redis_memory()] == ["portal.W002"]  # unreachable: said so


def test_the_embedded_file_cache_is_bounded(tmp_path: Path) -> None:
    """Without Redis the settings give the file cache ``CACHE_MAX_ENTRIES``; writing four
    times as many slice PNGs through the portal's cache code leaves at most that many."""
    code = (
        "from django.conf import settings as s; from uploads.viewer import rendering;"
        "print(s.CACHES['default']['OPTIONS']['MAX_ENTRIES']);"
        "[rendering._store(f'png:{n}', bytes(65000)) for n in range(160)];"
        "import pathlib; print(len(list(pathlib.Path(s.CACHES['default']['LOCATION'])"
        ".glob('*.djcache'))))"
    )
    drop = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DATA_DIR=str(tmp_path), CACHE_MAX_ENTRIES="40")
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    limit, files = map(int, result.stdout.split())
    assert limit == 40
    assert 0 < files <= 40
