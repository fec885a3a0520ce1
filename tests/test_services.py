"""Integration with the real services: PostgreSQL, Redis, and a `celery worker` subprocess."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from portal.audit.models import AuditEvent

pytestmark = pytest.mark.services


@pytest.mark.django_db
def test_database_is_postgresql(require_postgres: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert "PostgreSQL" in cursor.fetchone()[0]


def test_cache_is_redis(require_redis: str, settings: Any) -> None:
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    key = f"test:{uuid.uuid4().hex}"
    cache.set(key, {"n": 1}, 10)
    assert cache.get(key) == {"n": 1}
    import redis

    # The value really sits in the Redis server, not in this process.
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    assert any(key in k for k in client.keys(f"*{key}*"))


def test_task_round_trip_through_real_worker(celery_worker: Any) -> None:
    from portal.accounts.tasks import ping

    token = uuid.uuid4().hex
    result = ping.delay(token)
    # Eager tasks run elsewhere in the session may leave Celery's "inside a task" flag set.
    assert result.get(timeout=30, disable_sync_subtasks=False) == token
    # The worker wrote through its own connection into the test database.
    assert AuditEvent.objects.filter(action="worker.ping", object_id=token).count() == 1
    assert "ping" in celery_worker.log.read_text()


def test_task_scheduled_on_commit_runs_after_commit(celery_worker: Any) -> None:
    from django.db import transaction

    from portal.accounts.tasks import ping

    token = uuid.uuid4().hex
    with transaction.atomic():
        transaction.on_commit(lambda: ping.delay(token))
        assert not AuditEvent.objects.filter(object_id=token).exists()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if AuditEvent.objects.filter(action="worker.ping", object_id=token).exists():
            break
        time.sleep(0.1)
    assert AuditEvent.objects.filter(action="worker.ping", object_id=token).count() == 1


def test_a_worker_under_another_broker_prefix_is_apart(
    require_postgres: None, require_redis: str, transactional_db: None, tmp_path: Any
) -> None:
    """Two portals (or two workers of a parallel test run, tests/conftest.py) on one Redis
    database with different ``CELERY_KEY_PREFIX``: each worker answers and runs only its
    own. The task sent here first is still waiting when the other worker (one process,
    in order) has run the task sent to it later."""
    import redis
    from celery import Celery

    from portal.celery import app
    from tests.conftest import start_worker

    other_prefix = f"other-{uuid.uuid4().hex[:8]}:"
    # Not the current app: the portal's shared tasks would be sent through it after this.
    other = Celery("other", broker=require_redis, backend=require_redis, set_as_current=False)
    other.conf.broker_transport_options = {"global_keyprefix": other_prefix}
    app.control.purge()
    worker = start_worker(tmp_path / "other.log", {"CELERY_KEY_PREFIX": other_prefix})
    try:
        deadline = time.monotonic() + 30
        while not other.control.ping(timeout=0.5):
            assert worker.proc.poll() is None and time.monotonic() < deadline, "no answer"
        assert app.control.ping(timeout=1) == []
        mine, theirs = uuid.uuid4().hex, uuid.uuid4().hex
        app.send_task("portal.accounts.tasks.ping", args=[mine])
        other.send_task("portal.accounts.tasks.ping", args=[theirs]).get(timeout=30)
        assert AuditEvent.objects.filter(object_id=theirs).count() == 1
        assert not AuditEvent.objects.filter(object_id=mine).exists()
    finally:
        worker.stop()
        other.close()
        app.control.purge()
        client = redis.Redis.from_url(require_redis)
        for key in client.scan_iter(f"{other_prefix}*"):  # its queue's bindings
            client.delete(key)


def test_healthz_reports_database_and_cache(client: Any, db: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": "ok", "cache": "ok"}
