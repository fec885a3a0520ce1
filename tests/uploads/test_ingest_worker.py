"""Ingest through a real `celery worker` with PostgreSQL and Redis, including a worker
killed in the middle of processing."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Storage, start_worker
from tests.uploads.conftest import UploadClient
from uploads.intake import ingest, quarantine
from uploads.intake.tasks import requeue_stale_files
from uploads.models import FileStatus, Instance, Upload, UploadFile

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_series_through_real_worker(
    storage: Storage, celery_worker: Any, login: Any, patient: Any, mr_series: list[Path]
) -> None:
    client = UploadClient(login(patient))
    upload = client.create(len(mr_series))
    for path in mr_series:
        client.send(upload, path.name, path.read_bytes())
    wait_until(lambda: Upload.objects.get(pk=upload).state == Upload.State.DONE, 60, "the upload")
    assert Instance.objects.count() == 20
    # The parts go once the batch has committed, just after "done" (on S3: one request each).
    wait_until(quarantine.is_empty, 20, "quarantine emptied")
    assert "uploads.tasks.ingest_upload" in celery_worker.log.read_text()
    # The worker (another process) wrote to the same back-end: each instance's object once.
    files = sorted(Instance.objects.values_list("file", flat=True))
    assert storage.names("instances/") == files and storage.names("quarantine/") == []


def test_worker_killed_mid_ingest_loses_and_duplicates_nothing(
    celery_worker: Any,
    login: Any,
    patient: Any,
    mr_series: list[Path],
    tmp_path: Path,
    settings: Any,
) -> None:
    from portal.celery import app

    # Slow every ingest down so the kill lands in the middle of the batch.
    celery_worker.stop()
    slow = start_worker(tmp_path / "slow.log", {"INGEST_TEST_DELAY": "0.5"})
    try:
        wait_until(lambda: bool(app.control.ping(timeout=0.5)), 30, "the slow worker")
        client = UploadClient(login(patient))
        upload = client.create(len(mr_series))
        for path in mr_series:
            client.send(upload, path.name, path.read_bytes())
        wait_until(lambda: Instance.objects.count() >= 3, 60, "a few instances")
    finally:
        slow.stop(signal.SIGKILL)  # no warm shutdown: the running task is lost mid-way
    done_before = Instance.objects.count()
    assert done_before < 20
    assert UploadFile.objects.exclude(status__in=[FileStatus.STORED]).exists()

    # A fresh worker; the beat job re-sends what was lost, once its claim is stale.
    settings.INGEST_CLAIM_TIMEOUT = 5  # files received > 5 s ago count as lost
    fresh = start_worker(tmp_path / "fresh.log", {"INGEST_CLAIM_TIMEOUT": "5"})
    try:
        wait_until(lambda: bool(app.control.ping(timeout=0.5)), 30, "the fresh worker")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if Upload.objects.get(pk=upload).state == Upload.State.DONE:
                break
            requeue_stale_files()
            time.sleep(2)
        assert Upload.objects.get(pk=upload).state == Upload.State.DONE
    finally:
        fresh.stop()
    assert Instance.objects.count() == 20
    assert UploadFile.objects.filter(status=FileStatus.STORED).count() == 20
    assert list(quarantine.stored()) == []
    assert ingest.stale_files() == []


def test_ingest_goes_before_waiting_prerender_work(
    require_postgres: None, require_redis: str, transactional_db: None, login: Any,
    patient: Any, mr_series: list[Path], tmp_path: Path,
) -> None:  # fmt: skip
    """Pre-rendering is queued at a low priority: a worker takes an upload's ingest run
    before a backlog of pre-render tasks queued earlier."""
    from portal.celery import app
    from uploads.viewer.tasks import queue_prerender

    app.control.purge()
    for study_id in range(900001, 900011):  # a backlog (studies that do not exist: no work)
        queue_prerender(study_id)
    client = UploadClient(login(patient))
    upload = client.create(1)
    client.send(upload, mr_series[0].name, mr_series[0].read_bytes())  # queues a run
    worker = start_worker(tmp_path / "worker.log")
    try:
        wait_until(lambda: Upload.objects.get(pk=upload).state == Upload.State.DONE, 60, "ingest")
        wait_until(lambda: worker.log.read_text().count("prerender_study") >= 20, 30, "backlog")
    finally:
        worker.stop()
    received = [
        line.split("Task ", 1)[1].split("[", 1)[0]
        for line in worker.log.read_text().splitlines()
        if "] received" in line
    ]
    assert received[0] == "uploads.tasks.ingest_upload", received[:3]
    assert received.count("uploads.tasks.prerender_study") >= 10
