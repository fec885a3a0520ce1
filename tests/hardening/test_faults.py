"""Faults with the real services: a real ``celery worker`` subprocess, PostgreSQL, Redis.

* Redis restarted (data lost) in the middle of an upload: a private ``redis-server`` on a
  free port, so nothing else on the machine is disturbed.
* PostgreSQL connections of the worker terminated again and again during ingest (a
  database restart as the worker sees it, without restarting the shared server).
* The disk fills up under the worker (a real tmpfs, when this machine lets us mount one).
* SMTP down is covered by tests/reports/test_delivery.py
  (``test_smtp_down_retries_then_fails_and_admin_resends``).

Afterwards every accepted file is stored exactly once, the quarantine is empty and every
status is final; ``requeue_stale_files`` is called as the beat schedule would.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pydicom
import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.test import Client

from tests.conftest import missing, start_worker, worker_database_url
from tests.hardening.conftest import free_port, wait_until
from tests.hardening.corpus import good_file
from tests.uploads.conftest import UploadClient, sha
from uploads.intake import ingest, quarantine
from uploads.intake.tasks import requeue_stale_files
from uploads.models import FileStatus, Instance, Upload, UploadFile

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


# -- helpers ---------------------------------------------------------------------------------


class PrivateRedis:
    """A throw-away redis-server (no persistence) that the test may kill and restart."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=0.5)
        wait_until(lambda: _pings(client), 10, "the private redis-server")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app (publisher, control) at another broker."""
    from portal.celery import app

    old = app.conf.broker_url

    def switch(to: str) -> None:
        app.conf.broker_url = to
        app._pool = None  # connection and producer pools are per broker URL
        app.amqp._producer_pool = None

    switch(url)
    try:
        yield
    finally:
        switch(old)


def queue_key(queue: str = "celery") -> str:
    """The Redis key of a Celery queue: its name after this process's broker key prefix
    (``CELERY_KEY_PREFIX``; each pytest-xdist worker has one, tests/conftest.py)."""
    from portal.celery import app

    return app.conf.broker_transport_options.get("global_keyprefix", "") + queue


def wait_for_worker(worker: Any, timeout: float = 30) -> None:
    from portal.celery import app

    def ready() -> bool:
        if worker.proc.poll() is not None:
            pytest.fail("worker exited:\n" + worker.log.read_text()[-3000:])
        try:
            return bool(app.control.ping(timeout=0.5))
        except Exception:  # a pooled connection to a restarted broker fails once
            return False

    wait_until(ready, timeout, "the worker")


def settle(upload_id: int, timeout: float) -> int:
    """Wait for the upload to finish, re-sending lost tasks as the beat job would.
    Returns how many files were re-sent."""
    deadline = time.monotonic() + timeout
    resent = 0
    while time.monotonic() < deadline:
        if Upload.objects.get(pk=upload_id).state == Upload.State.DONE:
            return resent
        resent += requeue_stale_files()
        time.sleep(1)
    states = list(UploadFile.objects.values_list("status", "attempts", "message"))
    pytest.fail(f"upload not done after {timeout} s: {states}")


def assert_each_stored_once(upload_id: int, sent: list[bytes]) -> None:
    files = UploadFile.objects.filter(upload_id=upload_id)
    assert {f.key for f in files} == {sha(d) for d in sent}
    assert all(f.status == FileStatus.STORED and f.instance_id for f in files), [
        (f.status, f.message) for f in files
    ]
    assert Instance.objects.count() == len(sent)
    root = Path(default_storage.path("instances"))
    stored = sorted(root.rglob("*.dcm"))
    assert len(stored) == len(sent), "a file was stored twice (or not at all)"
    for instance in Instance.objects.all():
        with default_storage.open(instance.file, "rb") as handle:
            data = handle.read()
        assert len(data) == instance.size, "a stored file is incomplete"
        assert pydicom.dcmread(io.BytesIO(data)).pixel_array.shape == (64, 64)
    assert quarantine.is_empty()
    assert ingest.stale_files() == []


def send_like_the_browser(
    client: Client, upload: int, name: str, data: bytes, timeout: float
) -> int:
    """One-request upload, retried on 5xx and connection errors (as uploader.js does).
    Returns how many attempts failed."""
    failures = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = client.generic(
                "PUT", f"/api/uploads/{upload}/files/{sha(data)}", data,
                content_type="application/octet-stream",
                headers={"Upload-Offset": "0", "Upload-Length": str(len(data)),
                         "Upload-Name": name},
            )  # fmt: skip
            if response.status_code < 500:
                assert response.status_code == 200, response.content
                return failures
        except Exception:  # the test client re-raises some errors outside the view
            pass
        failures += 1
        assert time.monotonic() < deadline, f"{name} could not be sent in {timeout} s"
        time.sleep(0.3)


# -- (a) Redis restarted mid-upload --------------------------------------------------------


def test_redis_restart_mid_upload_loses_and_duplicates_nothing(
    require_postgres: None, require_redis: str, transactional_db: None, tmp_path: Path,
    patient: Any, settings: Any,
) -> None:  # fmt: skip
    if not shutil.which("redis-server"):
        missing("redis-server not installed")
    redis = PrivateRedis(tmp_path)
    redis.start()
    settings.CACHES = {"default": {"BACKEND": "portal.cache.PortalRedisCache",
                                   "LOCATION": redis.url}}  # fmt: skip
    settings.INGEST_CLAIM_TIMEOUT = 2  # what the beat job counts as lost
    files = [good_file() for _ in range(12)]
    worker = start_worker(tmp_path / "worker.log", {"REDIS_URL": redis.url,
                                                     "INGEST_TEST_DELAY": "0.3"})  # fmt: skip
    try:
        with celery_broker(redis.url):
            wait_for_worker(worker)
            client = Client(raise_request_exception=False)
            client.force_login(patient)
            upload = UploadClient(client).create(len(files))
            for i, data in enumerate(files[:5]):
                send_like_the_browser(client, upload, f"{i}.dcm", data, 10)
            # Work for the last files waits in Redis (slow worker): a restart loses it.
            waiting = UploadFile.objects.filter(upload_id=upload, status=FileStatus.RECEIVED)
            waiting_at_kill = waiting.count()
            redis.kill()
            during = client.generic(
                "PUT", f"/api/uploads/{upload}/files/{sha(files[5])}", files[5],
                content_type="application/octet-stream",
                headers={"Upload-Offset": "0", "Upload-Length": str(len(files[5]))},
            )  # fmt: skip
            assert during.status_code in {200, 503}  # never a 500: the broker outage is logged
            time.sleep(1)
            redis.start()
            failures = 0
            for i, data in enumerate(files[5:], start=5):
                failures += send_like_the_browser(client, upload, f"{i}.dcm", data, 30)
            wait_for_worker(worker)
            resent = settle(upload, 90)
    finally:
        worker.stop()
        redis.kill()
    print(
        f"during outage: {during.status_code}; failed sends after: {failures}; "
        f"waiting at the restart: {waiting_at_kill}; re-sent by the safety net: {resent}"
    )
    assert_each_stored_once(upload, files)
    assert waiting_at_kill > 0, "the restart did not land mid-upload"
    # Files sent after the restart queue runs that also take the files whose queued run
    # was lost; the safety net (requeue_stale_files) covers an upload that sends no more.
    assert "lost" in worker.log.read_text().lower()  # the worker saw the broker go away


# -- (b) the worker's database connections terminated mid-ingest ---------------------------

APP_NAME = "hardening_worker"


def terminate_worker_connections(dbname: str) -> int:
    db = django_settings.DATABASES["default"]
    conn = psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = %s",
                [APP_NAME],
            )
            return int(cursor.fetchone()[0])
    finally:
        conn.close()


def test_database_connections_killed_mid_ingest(
    require_postgres: None, require_redis: str, transactional_db: None, tmp_path: Path,
    login: Any, patient: Any, settings: Any,
) -> None:  # fmt: skip
    from portal.celery import app

    app.control.purge()
    worker = start_worker(tmp_path / "worker.log", {
        "DATABASE_URL": f"{worker_database_url()}?application_name={APP_NAME}",
        "INGEST_TEST_DELAY": "0.25",
    })  # fmt: skip
    dbname = django_settings.DATABASES["default"]["NAME"]
    files = [good_file() for _ in range(10)]
    killed: list[int] = []
    views: list[str] = []
    stop = threading.Event()

    def chaos() -> None:
        while not stop.wait(0.35):
            killed.append(terminate_worker_connections(dbname))

    try:
        wait_until(lambda: bool(app.control.ping(timeout=0.5)), 30, "the worker")
        client = UploadClient(login(patient))
        upload = client.create(len(files))
        thread = threading.Thread(target=chaos, daemon=True)
        thread.start()
        for i, data in enumerate(files):
            client.send(upload, f"{i}.dcm", data)
        # While connections die: nothing half-written is ever visible.
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            for instance in Instance.objects.all():
                views.append(instance.file)
                assert default_storage.exists(instance.file), "an indexed file is missing"
            assert not UploadFile.objects.filter(status=FileStatus.STORED, instance=None).exists()
            time.sleep(0.2)
        stop.set()
        thread.join(5)
        settings.INGEST_CLAIM_TIMEOUT = 2
        settle(upload, 90)
    finally:
        stop.set()
        worker.stop()
    log = worker.log.read_text()
    print(f"terminated {sum(killed)} worker connections; {log.count('retrying')} retries")
    assert sum(killed) > 0, "no worker connection was ever terminated"
    assert "transient" in log and "retrying" in log, "no ingest was interrupted"
    assert_each_stored_once(upload, files)


# -- (c) the disk fills up under the worker ------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (needs root); skipped where mounting is not allowed."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                            capture_output=True)  # fmt: skip
    if result.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); test_storage_full.py covers it")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder: Path, leave: int) -> Path:
    """A ballast file that leaves about ``leave`` bytes free on the file system."""
    ballast = folder / "ballast"
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with open(ballast, "wb") as handle:
        handle.write(b"\0" * max(free - leave, 0))
    return ballast


def test_disk_full_under_the_worker_then_space_comes_back(
    require_postgres: None, require_redis: str, transactional_db: None, tiny_disk: Path,
    tmp_path: Path, patient: Any, login: Any, settings: Any,
) -> None:  # fmt: skip
    from portal.celery import app

    settings.MEDIA_ROOT = str(tiny_disk / "media")
    app.control.purge()
    files = [good_file() for _ in range(6)]
    client = UploadClient(login(patient))
    upload = client.create(len(files))
    for i, data in enumerate(files):
        client.send(upload, f"{i}.dcm", data)  # in quarantine; tasks wait in Redis
    ballast = fill(tiny_disk, leave=4096)  # less than one de-identified file (~10 kB)
    worker = start_worker(tmp_path / "worker.log")
    try:
        wait_until(lambda: bool(app.control.ping(timeout=0.5)), 30, "the worker")
        # Attempts are given back after a transient fault, so they do not show the tries
        # (polling them caught a run in progress only by chance): the worker's log does.
        wait_until(
            lambda: worker.log.read_text().count("transient OSError") >= 3, 30, "ENOSPC retries"
        )
        assert set(UploadFile.objects.values_list("status", flat=True)) == {FileStatus.RECEIVED}
        assert not Instance.objects.exists()
        studies = Path(settings.MEDIA_ROOT) / "instances"
        assert not studies.exists() or not any(p.is_file() for p in studies.rglob("*")), (
            "a half-written file is visible"
        )
        ballast.unlink()  # space is back
        settings.INGEST_CLAIM_TIMEOUT = 1
        settle(upload, 60)
    finally:
        worker.stop()
    assert_each_stored_once(upload, files)
