"""The admin Uploads page (issue 14): uploads in flight, stuck or finished with problems,
each upload's files without their names, and retry / send as it is / cancel
(``uploads/intake/lifecycle.py``), audit-logged. Uploads are made through the upload API."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.audit.models import AuditEvent
from tests.reports.factories import case_of
from tests.uploads.conftest import UploadClient, sha, zip_bytes
from tests.uploads.test_ingest_batches import ingest_all, post_batch, variant
from uploads.intake import lifecycle, quarantine, tasks, watchdog
from uploads.models import FileStatus, Study, StudyStatus, Upload, UploadFile

pytestmark = pytest.mark.django_db

ROW = re.compile(r'data-testid="admin-uploads-row" data-upload-id="(\d+)" data-state="(\w+)"')
#: A name with a patient's name in it: never on the admin pages.
PHI_NAME = "DOE^JOHN"


def interrupted_upload(client: Any, capture: Callable[[], AbstractContextManager[Any]]) -> int:
    """Through the API: 1 of 3 files sent and stored, then the sender went away; after
    the idle time the watchdog says it needs attention."""
    api = UploadClient(client)
    with capture():
        upload = api.create(3, clinical_question="Is it growing?")
    with capture():
        assert api.send(upload, f"{PHI_NAME}_1.dcm", variant(0))["status"] == "received"
    assert Upload.objects.get(pk=upload).studies.count() == 1  # processed (eager tasks)
    long_ago = timezone.now() - timedelta(seconds=django_settings.UPLOAD_IDLE_SECONDS + 1)
    UploadFile.objects.filter(upload_id=upload).update(updated_at=long_ago)
    Upload.objects.filter(pk=upload).update(created_at=long_ago)
    assert watchdog.check(send=lambda upload_id: None)["attention"] == 1
    return upload


def rows(html: str) -> list[tuple[int, str]]:
    return [(int(pk), state) for pk, state in ROW.findall(html)]


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def uploader(patient: Any) -> Client:
    client = Client()
    client.force_login(patient)
    return client


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def make_upload(owner: Any, state: str, days_ago: float = 0, rejected: int = 0) -> Upload:
    upload = Upload.objects.create(owner=owner, expected_files=1, state=state)
    for n in range(rejected):
        UploadFile.objects.create(
            upload=upload, key=f"skipped-{n:05d}", size=0, status=FileStatus.REJECTED
        )
    if days_ago:
        Upload.objects.filter(pk=upload.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    return upload


def test_list_filters_counts_and_order(admin: Client, patient: Any) -> None:
    done_ok = make_upload(patient, Upload.State.DONE, days_ago=5)
    problem = make_upload(patient, Upload.State.DONE, days_ago=2, rejected=2)
    old_problem = make_upload(patient, Upload.State.DONE, days_ago=40, rejected=1)
    cancelled = make_upload(patient, Upload.State.CANCELLED, days_ago=1)
    stuck = make_upload(patient, Upload.State.NEEDS_ATTENTION, days_ago=3)
    older_open = make_upload(patient, Upload.State.OPEN, days_ago=1)
    newest_open = make_upload(patient, Upload.State.OPEN)

    page = admin.get("/manage/uploads/").content.decode()
    # Needs attention first, then in progress, then the rest; newest first in each.
    assert [pk for pk, _ in rows(page)] == [
        stuck.pk, newest_open.pk, older_open.pk,
        cancelled.pk, problem.pk, done_ok.pk, old_problem.pk,
    ]  # fmt: skip
    assert (stuck.pk, "needs_attention") in rows(page)
    counts = dict(re.findall(r'<li data-show="(\w+)">(?:<a [^>]*>)?<strong>(\d+)</strong>', page))
    assert counts == {"all": "7", "needs_attention": "1", "open": "2", "problems": "1",
                      "cancelled": "1"}  # fmt: skip
    expected = {
        "needs_attention": [stuck.pk],
        "open": [newest_open.pk, older_open.pk],
        "problems": [problem.pk],  # done with a file not used, in the last 30 days
        "cancelled": [cancelled.pk],
    }
    for show, pks in expected.items():
        html = admin.get(f"/manage/uploads/?show={show}").content.decode()
        assert [pk for pk, _ in rows(html)] == pks, show
        assert f'data-testid="admin-uploads-filter-{show}" aria-current="page"' in html
    # An unknown filter is the whole list, not an error.
    assert len(rows(admin.get("/manage/uploads/?show=nonsense&page=x").content.decode())) == 7


def test_list_pages_keep_the_filter(admin: Client, patient: Any, monkeypatch: Any) -> None:
    from uploads.intake import admin_views

    monkeypatch.setattr(admin_views, "PER_PAGE", 2)
    made = [make_upload(patient, Upload.State.OPEN, days_ago=n + 1) for n in range(3)]
    make_upload(patient, Upload.State.DONE)
    first = admin.get("/manage/uploads/?show=open").content.decode()
    assert [pk for pk, _ in rows(first)] == [made[0].pk, made[1].pk]
    assert 'href="?show=open&amp;page=2">Next page</a>' in first and "Page 1 of 2" in first
    second = admin.get("/manage/uploads/?show=open&page=2").content.decode()
    assert [pk for pk, _ in rows(second)] == [made[2].pk]


def test_list_rows_say_where_each_upload_stands(
    admin: Client, uploader: Client, capture: Any, patient: Any
) -> None:
    upload = interrupted_upload(uploader, capture)
    study = Study.objects.get(owner=patient)
    html = admin.get("/manage/uploads/").content.decode()
    row = html[html.index(f'data-upload-id="{upload}"') :].split("</tr>")[0]
    assert patient.email in row
    assert "1 file: 1 stored" in row
    assert f'href="/studies/{study.pk}/"' in row
    assert "Needs attention" in row and "1 of 3 files were received" in row
    assert 'data-testid="admin-upload-retry"' not in row  # nothing waits to be processed
    assert PHI_NAME not in html


def test_list_queries_do_not_grow_with_the_number_of_uploads(
    admin: Client, patient: Any, other_patient: Any
) -> None:
    def add(count: int) -> None:
        for n in range(count):
            upload = make_upload(patient if n % 2 else other_patient, Upload.State.OPEN)
            UploadFile.objects.create(upload=upload, key=f"{upload.pk:064x}", size=10,
                                      status=FileStatus.STORED)  # fmt: skip
            UploadFile.objects.create(upload=upload, key=f"{upload.pk + 10**6:064x}", size=10)
            upload.studies.add(Study.objects.create(owner=upload.owner))

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            response = admin.get("/manage/uploads/")
        assert response.status_code == 200
        return len(context.captured_queries)

    add(2)
    few = queries()
    add(20)
    assert queries() == few
    html = admin.get("/manage/uploads/").content.decode()
    assert len(rows(html)) == 22 and html.count("2 files: 1 stored, 1 waiting") == 22


def test_detail_lists_files_and_archive_members_without_names(
    admin: Client, uploader: Client, capture: Any
) -> None:
    api = UploadClient(uploader)
    archive = zip_bytes({f"{PHI_NAME}/IM1.dcm": variant(1), f"{PHI_NAME}/notes.txt": b"x" * 40})
    with capture():
        upload = api.create(3)
    with capture():
        api.send(upload, f"{PHI_NAME}_0.dcm", variant(0))
        api.send(upload, f"{PHI_NAME}.zip", archive)
        api.send(upload, f"{PHI_NAME}_junk.dcm", b"not a dicom file at all" * 20)
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE
    # Rejected files keep their names for the uploader; the admin page never shows them.
    assert UploadFile.objects.filter(name__contains=PHI_NAME).exists()
    html = admin.get(f"/manage/uploads/{upload}/").content.decode()
    assert PHI_NAME not in html and "notes.txt" not in html
    table = html[html.index('data-testid="admin-upload-files-table"') :]
    statuses = re.findall(
        r'data-testid="admin-upload-file" data-file-id="\d+" data-status="(\w+)"', table
    )
    assert statuses == ["stored", "expanded", "stored", "rejected", "rejected"]
    for number in range(1, 6):
        assert f"file {number}" in table
    assert sha(variant(0))[:8] in table and sha(archive)[:8] in table
    assert table.count("from archive file 2") == 2  # the members follow their archive
    assert "Archive unpacked" in table and "Not used" in table
    assert "Finished" in html and "Retry now" not in html  # no action on an ended upload
    # ?page= past the end: the last page, not an error.
    assert admin.get(f"/manage/uploads/{upload}/?page=99").status_code == 200
    assert admin.get("/manage/uploads/999999/").status_code == 404


def test_detail_pages_its_files(admin: Client, patient: Any, monkeypatch: Any) -> None:
    from uploads.intake import admin_views

    monkeypatch.setattr(admin_views, "FILES_PER_PAGE", 2)
    upload = make_upload(patient, Upload.State.OPEN)
    for n in range(5):
        UploadFile.objects.create(upload=upload, key=f"{n:064x}", size=10)
    second = admin.get(f"/manage/uploads/{upload.pk}/?page=2").content.decode()
    assert second.count('data-testid="admin-upload-file"') == 2
    assert "file 3" in second and "file 4" in second and "Files 3–4 of 5" in second


def test_retry_requeues_received_files_and_revives_a_stuck_upload(
    admin: Client, uploader: Client, capture: Any, settings: Any, monkeypatch: Any
) -> None:
    """Files whose runs are lost (no worker takes them) until the watchdog gives up: the
    admin retries, the files are queued again and the upload is open again."""
    kicked: list[tuple[int, int]] = []
    monkeypatch.setattr(tasks, "kick", lambda *args: kicked.append(args))
    settings.UPLOAD_MAX_REQUEUES = 0  # the first re-queue is past the budget
    upload = UploadClient(uploader).create(2)
    with capture():
        post_batch(uploader, upload, [variant(0), variant(1)])
    stale = timezone.now() - timedelta(seconds=settings.INGEST_CLAIM_TIMEOUT + 1)
    UploadFile.objects.filter(upload_id=upload).update(updated_at=stale)
    with capture():
        assert watchdog.check(send=lambda upload_id: None) == {
            "requeued": 1,
            "attention": 1,
            "cleared": 0,
        }
    row = Upload.objects.get(pk=upload)
    assert row.state == Upload.State.NEEDS_ATTENTION and row.requeues == 1
    kicked.clear()
    html = admin.get("/manage/uploads/").content.decode()
    row_html = html[html.index(f'data-upload-id="{upload}"') :].split("</tr>")[0]
    assert (
        'data-testid="admin-upload-retry"' in row_html
        and "2 files: 0 stored, 2 waiting" in row_html
    )
    assert (
        "Sends the 2 files waiting to be processed"
        in admin.get(f"/manage/uploads/{upload}/").content.decode()
    )

    with capture():
        response = admin.post(f"/manage/uploads/{upload}/retry/", follow=True)
    assert response.redirect_chain[-1][0] == "/manage/uploads/"
    assert "2 files queued again" in response.content.decode()
    row = Upload.objects.get(pk=upload)
    assert row.state == Upload.State.OPEN and row.attention == ""
    assert row.requeues == 0 and row.requeued_at is None
    assert {upload_id for upload_id, _ in kicked} == {upload}
    assert set(UploadFile.objects.values_list("attempts", flat=True)) == {0}  # left alone
    event = AuditEvent.objects.get(action="upload.retried")
    assert event.object_id == str(upload) and event.detail == {"queued": 2}
    # The queued run comes: the upload ends done.
    assert [o.status for o in ingest_all(upload)] == ["stored", "stored"]
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE


def test_retry_of_an_interrupted_upload_opens_it_again(
    admin: Client, uploader: Client, capture: Any, patient: Any
) -> None:
    """Nothing waits to be processed: the page offers no retry and says why; a retry
    (lifecycle) still opens the upload again and queues nothing."""
    upload = interrupted_upload(uploader, capture)
    assert Study.objects.get(owner=patient).status == StudyStatus.NEEDS_ATTENTION
    page = admin.get(f"/manage/uploads/{upload}/").content.decode()
    assert 'data-testid="admin-upload-retry"' not in page
    assert "nothing to retry. The sender stopped before sending every file" in page
    response = admin.post(f"/manage/uploads/{upload}/retry/", follow=True)
    assert "no file was waiting to be processed, so nothing was queued" in response.content.decode()
    assert Upload.objects.get(pk=upload).state == Upload.State.OPEN
    assert Study.objects.get(owner=patient).status == StudyStatus.PROCESSING
    assert AuditEvent.objects.get(action="upload.retried").detail == {"queued": 0}


def test_send_as_it_is_ends_the_upload_and_its_studies_are_ready(
    admin: Client, uploader: Client, capture: Any, patient: Any
) -> None:
    upload = interrupted_upload(uploader, capture)
    # A big file the sender had started when it went away: only part of it arrived.
    api = UploadClient(uploader)
    big = variant(7)
    api.register(upload, f"{PHI_NAME}_big.dcm", big)
    assert api.put(upload, big, 0, 1000).status_code == 200
    assert not quarantine.is_empty()
    assert Upload.objects.get(pk=upload).state == Upload.State.OPEN  # the sender was back
    page = admin.get(f"/manage/uploads/{upload}/").content.decode()
    assert 'data-testid="admin-upload-close"' in page and "1000\xa0bytes of" in page

    with capture():
        response = admin.post(
            f"/manage/uploads/{upload}/close/",
            {"next": f"/manage/uploads/{upload}/"},
            follow=True,
        )
    assert response.redirect_chain[-1][0] == f"/manage/uploads/{upload}/"
    html = response.content.decode()
    assert "sent as it is: it is finished, and its study is waiting for a radiologist" in html
    row = Upload.objects.get(pk=upload)
    assert row.state == Upload.State.DONE and row.sealed and row.attention == ""
    study = Study.objects.get(owner=patient)
    assert study.status == StudyStatus.READY and case_of(study).requested_at is not None
    partial = UploadFile.objects.get(key=sha(big))
    assert partial.status == FileStatus.REJECTED and partial.message == lifecycle.INCOMPLETE
    assert quarantine.is_empty()
    event = AuditEvent.objects.get(action="upload.closed")
    assert event.object_id == str(upload)
    assert event.detail == {"skipped": 0, "queued": 0, "refused": 1}
    assert PHI_NAME not in html


def test_cancel_by_an_admin(admin: Client, uploader: Client, monkeypatch: Any) -> None:
    monkeypatch.setattr(tasks, "kick", lambda *args: None)  # the files stay waiting
    api = UploadClient(uploader)
    upload = api.create(3)
    post_batch(uploader, upload, [variant(0)])
    api.register(upload, "b.dcm", variant(1))
    assert api.put(upload, variant(1), 0, 100).status_code == 200
    response = admin.post(f"/manage/uploads/{upload}/cancel/", follow=True)
    assert "was cancelled: 2 files still on the way will not be used" in response.content.decode()
    assert Upload.objects.get(pk=upload).state == Upload.State.CANCELLED
    assert set(UploadFile.objects.values_list("message", flat=True)) == {lifecycle.BY_ADMIN}
    assert quarantine.is_empty()
    assert AuditEvent.objects.get(action="upload.cancelled").detail == {"refused": 2}
    # Again, or any action on an ended upload: nothing changes, nothing is logged.
    for action in ("cancel", "retry", "close"):
        response = admin.post(f"/manage/uploads/{upload}/{action}/", follow=True)
        assert "has already ended (cancelled): nothing was changed" in response.content.decode()
    assert (
        AuditEvent.objects.filter(action__startswith="upload.")
        .exclude(action="upload.created")
        .count()
        == 1
    )
    # The uploader's API says the same as before.
    assert api.status(upload)["state"] == "cancelled"


def test_a_foreign_next_is_not_followed(admin: Client, patient: Any) -> None:
    upload = make_upload(patient, Upload.State.OPEN)
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = admin.post(f"/manage/uploads/{upload.pk}/retry/", {"next": target})
        assert response.status_code == 302 and response.url == "/manage/uploads/", target
    response = admin.post(f"/manage/uploads/{upload.pk}/retry/?next=/manage/uploads/{upload.pk}/")
    assert response.url == f"/manage/uploads/{upload.pk}/"
    assert admin.get(f"/manage/uploads/{upload.pk}/retry/").status_code == 405


def test_uploaders_api_keeps_its_audit_events(uploader: Client, capture: Any) -> None:
    api = UploadClient(uploader)
    upload = api.create(2)
    with capture():
        api.send(upload, "a.dcm", variant(0))
    with capture():
        response = uploader.post(
            f"/api/uploads/{upload}/finish/",
            {"skipped": [{"reason": "could not be de-identified"}]},
            content_type="application/json",
        )
    assert response.json()["state"] == "done"
    event = AuditEvent.objects.get(action="upload.finished")
    assert event.detail == {"skipped": 1, "queued": 0}
    other = api.create(1)
    uploader.post(f"/api/uploads/{other}/cancel/")
    assert AuditEvent.objects.get(action="upload.cancelled").detail == {"refused": 0}


def test_lifecycle_is_idempotent(patient: Any) -> None:
    done = make_upload(patient, Upload.State.DONE)
    calls: list[Any] = []
    assert lifecycle.retry(done.pk, on_change=calls.append) == 0
    assert lifecycle.seal(done.pk, ["x"], on_change=calls.append).state == Upload.State.DONE
    assert lifecycle.cancel(done.pk, on_change=calls.append).state == Upload.State.DONE
    assert calls == [] and not UploadFile.objects.exists()
    live = make_upload(patient, Upload.State.OPEN)
    assert lifecycle.seal(live.pk, ["one", ""]).state == Upload.State.DONE
    assert lifecycle.seal(live.pk, ["one", ""]).state == Upload.State.DONE
    assert sorted(UploadFile.objects.values_list("message", flat=True)) == [
        "not sent by your browser",
        "one",
    ]


def test_overview_and_nav_lead_to_the_page(admin: Client, patient: Any) -> None:
    assert "No uploads in this list" in admin.get("/manage/uploads/?show=open").content.decode()
    make_upload(patient, Upload.State.NEEDS_ATTENTION)
    make_upload(patient, Upload.State.NEEDS_ATTENTION)
    html = admin.get("/manage/").content.decode()
    assert 'data-testid="nav-uploads" href="/manage/uploads/"' in html
    stat = html[html.index('data-testid="stat-uploads-attention"') :].split("</li>")[0]
    assert "/manage/uploads/?show=needs_attention" in stat
    assert "<strong>2</strong> uploads needing attention" in stat
