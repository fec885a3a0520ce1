"""Burned-in text on the server-only path (issue 20): files that ``import_dicom`` (and so
the receiver and STOW, which share ``receive`` → ``ingest``) stores are cleaned when their
pixels need review; an image a person must look at holds its study off the worklist until
an admin confirms it or rejects the file, and the decision is audit-logged."""

from __future__ import annotations

import io
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from pydicom import dcmread

from portal.audit.models import AuditEvent
from tests.dicom.burn import burn
from tests.reports.factories import case_of
from tests.uploads.conftest import sample_bytes
from uploads.dicom.clean import HOLD_UNMATCHED
from uploads.dicom.pixels import detect_text, display_frames, identifying_words, ocr_available
from uploads.models import Instance, RequestStatus, Study, StudyStatus

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not ocr_available(), reason="tesseract is not installed"),
]


def run_import(path: Path, owner: Any, capture: Any, *extra: str) -> list[dict[str, Any]]:
    out = StringIO()
    with capture(execute=True):
        call_command("import_dicom", str(path), "--owner", owner.email, *extra, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def stored(instance: Instance) -> Any:
    with default_storage.open(instance.file, "rb") as fp:
        return dcmread(io.BytesIO(fp.read()))


def test_imported_ultrasound_is_stored_cleaned_and_goes_to_the_worklist(
    tmp_path: Path, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    burned = burn("US1_UNCR.dcm")
    (tmp_path / "us.dcm").write_bytes(burned.data)
    words = identifying_words(dcmread(io.BytesIO(burned.data), stop_before_pixels=True))
    (line,) = run_import(tmp_path, patient, django_capture_on_commit_callbacks)
    assert line["instances_stored"] == 1
    instance = Instance.objects.get()
    assert instance.pixel_cleaning["masked"] and instance.pixel_cleaning["regions"]
    assert instance.pixel_hold == ""
    assert "DOE" not in json.dumps(instance.pixel_cleaning)  # boxes only, never the words
    ds = stored(instance)
    assert ds.BurnedInAnnotation == "NO"
    assert "113101" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    found = {b.text for _, f in display_frames(ds) for b in detect_text(f, words) if b.identifying}
    assert found == set()
    assert Study.objects.get().status == StudyStatus.READY


def test_switched_off_the_pixels_are_stored_as_they_came(
    tmp_path: Path, patient: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.DEID_CLEAN_PIXELS = False
    (tmp_path / "us.dcm").write_bytes(burn("US1_UNCR.dcm").data)
    run_import(tmp_path, patient, django_capture_on_commit_callbacks)
    instance = Instance.objects.get()
    assert instance.pixel_cleaning is None and stored(instance).BurnedInAnnotation == "YES"


def held_study(tmp_path: Path, patient: Any, capture: Any) -> Instance:
    """An image whose header says text is burned in, with no text OCR can match."""
    ds = dcmread(io.BytesIO(sample_bytes("MR_small.dcm")))
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "mr.dcm", enforce_file_format=True)
    run_import(tmp_path, patient, capture, "--question", "Any lesion?")
    return Instance.objects.get()


def test_an_image_left_in_doubt_holds_its_study_until_an_admin_confirms(
    tmp_path: Path, patient: Any, admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    instance = held_study(tmp_path, patient, django_capture_on_commit_callbacks)
    assert instance.pixel_hold == HOLD_UNMATCHED
    study = Study.objects.get()
    assert study.status == StudyStatus.PROCESSING  # "Being prepared"
    assert case_of(study).status == RequestStatus.PENDING  # not on the worklist
    client = Client()
    client.force_login(admin_user)
    page = client.get("/manage/pixels/").content.decode()
    assert f'data-instance-id="{instance.pk}"' in page and "burned in" in page
    image = client.get(f"/manage/pixels/{instance.pk}/image.png")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert client.post(f"/manage/pixels/{instance.pk}/confirm/").status_code == 302
    instance.refresh_from_db()
    assert instance.pixel_hold == "" and instance.pixel_checked_by == admin_user
    study.refresh_from_db()
    assert study.status == StudyStatus.READY and case_of(study).requested_at is not None
    assert case_of(study).status == RequestStatus.READY  # now it waits for a radiologist
    event = AuditEvent.objects.get(action="pixels.confirmed")
    assert event.object_id == str(instance.pk)
    assert "No image is waiting" in client.get("/manage/pixels/").content.decode()


def test_rejecting_the_only_image_removes_it_and_ends_the_study(
    tmp_path: Path, patient: Any, admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    instance = held_study(tmp_path, patient, django_capture_on_commit_callbacks)
    name = instance.file
    client = Client()
    client.force_login(admin_user)
    assert client.post(f"/manage/pixels/{instance.pk}/reject/").status_code == 302
    assert not Instance.objects.exists() and not default_storage.exists(name)
    assert Study.objects.get().status == StudyStatus.CANCELLED
    assert AuditEvent.objects.filter(action="pixels.rejected").count() == 1
