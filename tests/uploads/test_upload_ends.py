"""Every upload ends (issue 14): done, or "needs attention" with a reason, decided from
facts the server holds — never from a count that can drift."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from tests.reports.factories import case_of
from tests.uploads.conftest import UploadClient, sample_bytes, sha
from tests.uploads.test_ingest_batches import ingest_all, post_batch, variant
from uploads.intake import ingest
from uploads.models import Study, StudyStatus, Upload, UploadFile


@pytest.mark.django_db
def test_files_that_coincide_still_close_the_upload(api: Any, patient: Any) -> None:
    """Three files chosen, two of them the same bytes once de-identified in the browser:
    the server registers two. The page says when it has sent everything; the upload
    closes and the study reaches the worklist."""
    same = variant(1)
    upload = api.create(3, clinical_question="Is it growing?")
    for name, data in (("a.dcm", variant(0)), ("b.dcm", same), ("c.dcm", same)):
        api.send(upload, name, data)
    assert api.status(upload)["state"] == "open"  # 2 of 3 registered: the old hang
    response = api.finish(upload)
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "done"
    study = Study.objects.get(owner=patient)
    assert study.status == StudyStatus.READY and case_of(study).requested_at is not None


@pytest.mark.django_db
def test_files_the_browser_skipped_are_reported_and_do_not_block(api: Any) -> None:
    upload = api.create(3)
    api.send(upload, "a.dcm", variant(0))
    skipped = [{"reason": "not sent: it could not be de-identified"},
               {"reason": "not a DICOM file (looks like a text file)"}]  # fmt: skip
    state = api.finish(upload, {"skipped": skipped}).json()
    assert state["state"] == "done"
    reasons = sorted(r["reason"] for r in state["rejected"])
    assert reasons == sorted(s["reason"] for s in skipped)
    # Sent twice (a retried request): recorded once.
    again = api.finish(upload, {"skipped": skipped}).json()
    assert len(again["rejected"]) == 2


@pytest.mark.django_db
def test_finish_waits_for_files_registered_but_not_received(api: Any) -> None:
    data = sample_bytes("CT_small.dcm")
    upload = api.create(1)
    api.register(upload, "ct.dcm", data)
    state = api.finish(upload).json()
    assert state["state"] == "open"  # sealed, but a file is still on its way
    api.send(upload, "ct.dcm", data)
    assert api.status(upload)["state"] == "done"


@pytest.mark.django_db(transaction=True)
def test_a_run_waits_for_files_another_transaction_holds_briefly(
    require_postgres: None, login: Any, patient: Any, monkeypatch: Any
) -> None:
    """On PostgreSQL another run's claim (SELECT … FOR UPDATE SKIP LOCKED) can hold locks
    on rows it then drops. A run must not skip its own claimed files for that: it waits
    for the short lock, processes them, and every file is taken once (attempts == 1)."""
    from uploads.intake import tasks

    monkeypatch.setattr(tasks, "kick", lambda *args: None)  # no run but the test's
    client = login(patient)
    upload = UploadClient(client).create(3)
    post_batch(client, upload, [variant(n) for n in range(3)])
    ids, _ = ingest.claim_files(upload, 16)
    assert len(ids) == 3
    locked = threading.Event()

    def hold_two_rows() -> None:
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(
                    "SELECT id FROM uploads_uploadfile WHERE id IN (%s, %s) FOR UPDATE", ids[:2]
                )
                locked.set()
                time.sleep(0.8)
                cursor.execute("ROLLBACK")
        finally:
            other.close()

    thread = threading.Thread(target=hold_two_rows)
    thread.start()
    assert locked.wait(10)
    batch = ingest.Batch()
    ingest.run_batch(ids, batch, [])
    thread.join()
    assert sorted(o.status for o in batch.outcomes) == ["stored"] * 3
    assert list(UploadFile.objects.values_list("attempts", flat=True)) == [1, 1, 1]
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE
    connection.close()


@pytest.mark.django_db
def test_an_interrupted_upload_needs_attention_and_says_so(
    api: Any, patient: Any, settings: Any
) -> None:
    """The browser went away after 1 of 3 files: after the idle time the upload needs
    attention, with a reason in plain words; the uploader can still finish it."""
    from uploads.intake import watchdog

    upload = api.create(3)
    api.send(upload, "a.dcm", variant(0))
    assert watchdog.check(send=print) == {
        "requeued": 0,
        "attention": 0,
        "cleared": 0,
    }  # not idle yet
    long_ago = timezone.now() - timedelta(seconds=settings.UPLOAD_IDLE_SECONDS + 1)
    UploadFile.objects.filter(upload_id=upload).update(updated_at=long_ago)
    Upload.objects.filter(pk=upload).update(created_at=long_ago)
    assert watchdog.check(send=print)["attention"] == 1
    state = api.status(upload)
    assert state["state"] == "needs_attention"
    assert "1 of 3 files" in state["attention"] and "upload page" in state["attention"]
    assert Study.objects.get(owner=patient).status == StudyStatus.NEEDS_ATTENTION
    # The uploader comes back and sends it as it is.
    assert api.finish(upload).json()["state"] == "done"
    assert Study.objects.get(owner=patient).status == StudyStatus.READY


@pytest.mark.django_db
def test_processing_that_never_progresses_needs_attention(
    login: Any, patient: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Files whose runs are lost again and again (no worker takes them): the watchdog
    re-queues them, and after its budget the upload needs attention for an admin."""
    from uploads.intake import watchdog

    sent: list[int] = []
    client = login(patient)
    upload = UploadClient(client).create(1)
    post_batch(client, upload, [variant(0)])
    stale = timezone.now() - ingest.claim_timeout() - timedelta(seconds=1)
    UploadFile.objects.filter(upload_id=upload).update(updated_at=stale)
    for _ in range(settings.UPLOAD_MAX_REQUEUES):
        with django_capture_on_commit_callbacks(execute=True):
            assert watchdog.check(send=sent.append) == {"requeued": 1, "attention": 0, "cleared": 0}
        # Not again before another claim timeout has passed: its run may still come.
        assert watchdog.check(send=sent.append)["requeued"] == 0
        Upload.objects.filter(pk=upload).update(requeued_at=stale)
    with django_capture_on_commit_callbacks(execute=True):
        assert watchdog.check(send=sent.append) == {"requeued": 1, "attention": 1, "cleared": 0}
    row = Upload.objects.get(pk=upload)
    assert row.state == Upload.State.NEEDS_ATTENTION and "our side" in row.attention
    assert sent == [upload] * (settings.UPLOAD_MAX_REQUEUES + 1)
    # A worker comes back: the files are processed and the upload ends done after all.
    assert [o.status for o in ingest_all(upload)] == ["stored"]
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE


@pytest.mark.django_db
def test_reopening_the_upload_page_requeues_what_waits(
    login: Any, patient: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from uploads.intake import tasks

    client = login(patient)
    upload = UploadClient(client).create(2)
    post_batch(client, upload, [variant(0)])  # its run was lost (never delivered)
    sent: list[Any] = []
    monkeypatch.setattr(tasks, "kick", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get("/api/uploads/open/")
    assert response.json()["upload"]["id"] == upload
    assert sent, "nothing re-queued for the received file"
    assert sha(variant(0)) in {f.key for f in UploadFile.objects.filter(upload_id=upload)}


@pytest.mark.django_db
def test_a_cancelled_upload_leaves_no_study_waiting(
    api: Any, login: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A file was stored (its study exists, "being prepared"), then the uploader cancels:
    the study is cancelled too, not left being prepared for ever."""
    upload = api.create(3)
    api.send(upload, "a.dcm", variant(0))
    assert Study.objects.get(owner=patient).status == StudyStatus.PROCESSING
    with django_capture_on_commit_callbacks(execute=True):
        response = login(patient).post(f"/api/uploads/{upload}/cancel/")
    assert response.json()["state"] == "cancelled"
    assert Study.objects.get(owner=patient).status == StudyStatus.CANCELLED
