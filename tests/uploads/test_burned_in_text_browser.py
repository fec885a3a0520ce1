"""Headless Chromium: an admin opens "Burned-in text" on a phone, sees the held image with
its boxes, and confirms it clean with the keyboard; the study then waits for a
radiologist."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from pydicom import dcmread

from portal.audit.models import AuditEvent
from tests.conftest import ARTIFACTS, browser_login
from tests.dicom.burn import burn
from tests.uploads.test_admin_uploads_browser import PHONE, no_sideways_scroll, press_tab_until
from uploads.dicom.clean import HOLD_RESIDUAL, deidentify_and_clean
from uploads.models import Instance, Series, Study, StudyStatus

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]


def held_image(owner: Any) -> Instance:
    """A cleaned ultrasound (real OCR boxes), held as if text were still readable."""
    done = deidentify_and_clean(burn("US1_UNCR.dcm").data, key=b"k", uid_root="2.25.1")
    assert done.cleaning is not None and done.cleaning.boxes
    ds = dcmread(io.BytesIO(done.data))
    study = Study.objects.create(owner=owner, status=StudyStatus.PROCESSING,
                                 study_instance_uid=ds.StudyInstanceUID)  # fmt: skip
    series = Series.objects.create(study=study, series_instance_uid=ds.SeriesInstanceUID,
                                   modality="US")  # fmt: skip
    name = default_storage.save(f"held/{ds.SOPInstanceUID}.dcm", ContentFile(done.data))
    return Instance.objects.create(
        series=series, sop_instance_uid=ds.SOPInstanceUID, sop_class_uid=ds.SOPClassUID,
        rows=480, columns=640, file=name, size=len(done.data), needs_pixel_review=True,
        pixel_cleaning=done.cleaning.as_json(), pixel_hold=HOLD_RESIDUAL,
    )  # fmt: skip


def test_admin_confirms_a_held_image_on_a_phone(page: Any, patient: Any, admin_user: Any) -> None:
    instance = held_image(patient)
    page.set_viewport_size(PHONE)
    browser_login(page, admin_user.email)
    page.goto("/manage/")
    page.get_by_test_id("nav-pixel-review").click()
    page.wait_for_url("**/manage/pixels/")
    row = page.get_by_test_id("pixel-review-row")
    assert row.count() == 1 and row.get_attribute("data-instance-id") == str(instance.pk)
    assert HOLD_RESIDUAL in row.inner_text() and "blacked out" in row.inner_text()
    image = page.get_by_test_id("pixel-review-image")
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    box = image.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    no_sideways_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pixel-review-phone.png"), full_page=True)

    press_tab_until(page, "pixel-review-confirm")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_test_id("pixel-review-empty").is_visible()
    study = instance.series.study
    study.refresh_from_db()
    assert study.status == StudyStatus.READY
    assert AuditEvent.objects.filter(action="pixels.confirmed").count() == 1
