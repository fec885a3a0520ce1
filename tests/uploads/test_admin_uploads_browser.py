"""Headless Chromium: an admin finds the uploads that need attention on the Uploads page
(made through the upload API and the watchdog), retries the one whose files are stuck
(with the keyboard) and sends the interrupted one as it is; the pages fit a phone."""

from __future__ import annotations

import re
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import ARTIFACTS, browser_login
from tests.uploads.conftest import UploadClient
from tests.uploads.test_admin_uploads import PHI_NAME, interrupted_upload
from tests.uploads.test_ingest_batches import post_batch, variant
from uploads.intake import tasks, watchdog
from uploads.models import Study, StudyStatus, Upload, UploadFile

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]

PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """limit => [...document.querySelectorAll('body *')]
          .filter(e => e.getBoundingClientRect().right > limit && !e.closest('.table-scroll'))
          .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
          .slice(0, 10)""",
        PHONE["width"],
    )
    assert width <= PHONE["width"], f"the page is {width} px wide: {wide}"


def press_tab_until(page: Any, testid: str, limit: int = 60) -> None:
    """Move the focus with Tab until the element with this data-testid has it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.dataset?.testid") == testid:
            return
    pytest.fail(f"{testid} cannot be reached with the keyboard")


def stalled_upload(client: Any, settings: Any, monkeypatch: Any) -> int:
    """Through the API: a file arrives but no worker ever takes it (its runs are lost);
    the watchdog re-queues it past its budget and the upload needs attention."""
    monkeypatch.setattr(tasks, "kick", lambda *args: None)  # runs lost
    upload = UploadClient(client).create(1)
    assert post_batch(client, upload, [variant(5)]).status_code == 200
    stale = timezone.now() - timedelta(seconds=settings.INGEST_CLAIM_TIMEOUT + 1)
    UploadFile.objects.filter(upload_id=upload).update(updated_at=stale)
    settings.UPLOAD_MAX_REQUEUES = 0
    assert watchdog.check(send=lambda upload_id: None) == {
        "requeued": 1,
        "attention": 1,
        "cleared": 0,
    }
    monkeypatch.undo()  # workers are back
    return upload


def test_admin_retries_and_sends_stuck_uploads(
    page: Any, patient: Any, other_patient: Any, admin_user: Any, settings: Any, monkeypatch: Any
) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    uploader = Client()
    uploader.force_login(patient)
    interrupted = interrupted_upload(uploader, nullcontext)
    uploader.force_login(other_patient)
    stalled = stalled_upload(uploader, settings, monkeypatch)
    ARTIFACTS.mkdir(exist_ok=True)

    # On a phone: the tables scroll inside their card, the page does not.
    page.set_viewport_size(PHONE)
    browser_login(page, admin_user.email)
    page.goto("/manage/uploads/")
    no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "admin-uploads-phone.png"), full_page=True)
    page.goto(f"/manage/uploads/{interrupted}/")
    no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "admin-upload-phone.png"), full_page=True)

    # The overview counts them; the nav leads to the list, where they come first.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/manage/")
    stat = page.get_by_test_id("stat-uploads-attention")
    assert "2 uploads needing attention" in stat.inner_text()
    page.get_by_test_id("nav-uploads").click()
    page.wait_for_url(re.compile(r"/manage/uploads/$"))
    rows = page.get_by_test_id("admin-uploads-row")
    assert [rows.nth(n).get_attribute("data-upload-id") for n in range(2)] == [
        str(stalled),
        str(interrupted),
    ]
    row = page.locator(f'[data-testid="admin-uploads-row"][data-upload-id="{stalled}"]')
    assert row.get_attribute("data-state") == "needs_attention"
    text = row.inner_text()
    assert "Needs attention" in text and "on our side" in text
    assert other_patient.email in text and "1 file: 0 stored, 1 waiting" in text
    page.screenshot(path=str(ARTIFACTS / "admin-uploads.png"), full_page=True)

    # The stalled upload: retried with the keyboard, its file is processed, it ends.
    row.get_by_test_id("admin-upload-link").click()
    page.wait_for_url(re.compile(rf"/manage/uploads/{stalled}/$"))
    assert page.get_by_test_id("admin-upload").get_attribute("data-state") == "needs_attention"
    page.screenshot(path=str(ARTIFACTS / "admin-upload.png"), full_page=True)
    press_tab_until(page, "admin-upload-retry")
    page.keyboard.press("Enter")
    page.get_by_test_id("message").filter(has_text="1 file queued again").wait_for()
    assert page.get_by_test_id("admin-upload").get_attribute("data-state") == "done"
    assert page.get_by_test_id("admin-upload-state").inner_text() == "Finished"
    assert "1 file: 1 stored" in page.get_by_test_id("admin-upload-files").inner_text()
    assert Study.objects.get(owner=other_patient).status == StudyStatus.READY

    # The interrupted upload: nothing to retry; sent as it is, its study is ready.
    page.get_by_test_id("nav-uploads").click()
    row = page.locator(f'[data-testid="admin-uploads-row"][data-upload-id="{interrupted}"]')
    assert "1 of 3 files were received" in row.inner_text()
    assert row.get_by_test_id("admin-upload-retry").count() == 0
    row.get_by_test_id("admin-upload-link").click()
    page.wait_for_url(re.compile(rf"/manage/uploads/{interrupted}/$"))
    assert page.get_by_test_id("admin-upload-file").count() == 1
    assert "file 1" in page.get_by_test_id("admin-upload-files-table").inner_text()
    assert PHI_NAME not in page.content()
    page.get_by_test_id("admin-upload-close").click()
    page.get_by_test_id("message").filter(has_text="sent as it is").wait_for()
    assert page.get_by_test_id("admin-upload").get_attribute("data-state") == "done"
    assert page.get_by_test_id("admin-upload-retry").count() == 0
    assert Upload.objects.get(pk=interrupted).state == Upload.State.DONE
    assert Study.objects.get(owner=patient).status == StudyStatus.READY
    page.screenshot(path=str(ARTIFACTS / "admin-upload-sent.png"), full_page=True)
    page.get_by_test_id("nav-uploads").click()
    page.wait_for_url(re.compile(r"/manage/uploads/$"))
    assert page.locator('[data-testid="admin-uploads-row"][data-state="done"]').count() == 2
    assert problems == []
