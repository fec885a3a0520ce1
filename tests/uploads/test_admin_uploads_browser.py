"""Headless Chromium: an admin finds an upload that needs attention on the Uploads page,
opens it, retries it and sends it as it is, with the keyboard; the pages fit a phone."""

from __future__ import annotations

import re
from contextlib import nullcontext
from typing import Any

import pytest
from django.test import Client

from tests.conftest import ARTIFACTS, browser_login
from tests.uploads.test_admin_uploads import PHI_NAME, interrupted_upload
from uploads.models import Study, StudyStatus, Upload

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


def test_admin_retries_and_sends_a_stuck_upload(page: Any, patient: Any, admin_user: Any) -> None:
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
    upload = interrupted_upload(uploader, nullcontext)
    ARTIFACTS.mkdir(exist_ok=True)

    # On a phone: the tables scroll inside their card, the page does not.
    page.set_viewport_size(PHONE)
    browser_login(page, admin_user.email)
    page.goto("/manage/uploads/")
    no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "admin-uploads-phone.png"), full_page=True)
    page.goto(f"/manage/uploads/{upload}/")
    no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "admin-upload-phone.png"), full_page=True)

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/manage/")
    stat = page.get_by_test_id("stat-uploads-attention")
    assert "1 upload needing attention" in stat.inner_text()
    page.get_by_test_id("nav-uploads").click()
    page.wait_for_url(re.compile(r"/manage/uploads/$"))
    row = page.locator(f'[data-testid="admin-uploads-row"][data-upload-id="{upload}"]')
    assert row.get_attribute("data-state") == "needs_attention"
    text = row.inner_text()
    assert "Needs attention" in text and "1 of 3 files were received" in text
    assert patient.email in text and "1 file: 1 stored" in text
    page.screenshot(path=str(ARTIFACTS / "admin-uploads.png"), full_page=True)

    row.get_by_test_id("admin-upload-link").click()
    page.wait_for_url(re.compile(rf"/manage/uploads/{upload}/$"))
    facts = page.get_by_test_id("admin-upload")
    assert facts.get_attribute("data-state") == "needs_attention"
    assert page.get_by_test_id("admin-upload-file").count() == 1
    assert "file 1" in page.get_by_test_id("admin-upload-files-table").inner_text()
    assert PHI_NAME not in page.content()
    page.screenshot(path=str(ARTIFACTS / "admin-upload.png"), full_page=True)

    # Retry, with the keyboard: nothing was waiting, so the upload is simply open again.
    press_tab_until(page, "admin-upload-retry")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    page.get_by_test_id("message").filter(has_text="is open again").wait_for()
    assert page.get_by_test_id("admin-upload").get_attribute("data-state") == "open"
    assert page.get_by_test_id("admin-upload-state").inner_text() == "In progress"
    assert Study.objects.get(owner=patient).status == StudyStatus.PROCESSING

    # Send it as it is: it ends, and its study goes to the radiologists.
    page.get_by_test_id("admin-upload-close").click()
    page.wait_for_load_state()
    page.get_by_test_id("message").filter(has_text="sent as it is").wait_for()
    assert page.get_by_test_id("admin-upload").get_attribute("data-state") == "done"
    assert page.get_by_test_id("admin-upload-state").inner_text() == "Finished"
    assert page.get_by_test_id("admin-upload-retry").count() == 0
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE
    assert Study.objects.get(owner=patient).status == StudyStatus.READY
    page.screenshot(path=str(ARTIFACTS / "admin-upload-sent.png"), full_page=True)
    page.goto("/manage/uploads/")
    assert row.get_attribute("data-state") == "done"
    assert problems == []
