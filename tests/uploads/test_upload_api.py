"""The resumable upload API and the ingest pipeline (tasks run eagerly here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.files.storage import default_storage

from tests.conftest import Storage
from tests.reports.factories import case_of
from tests.uploads.conftest import UploadClient, sample_bytes, sha, zip_bytes
from uploads.intake import quarantine
from uploads.models import FileStatus, Instance, Study, StudyStatus, Upload, UploadFile

pytestmark = pytest.mark.django_db


def test_series_upload_indexes_one_ready_study(
    storage: Storage, api: Any, mr_series: list[Path], patient: Any
) -> None:
    upload = api.create(len(mr_series), clinical_question="Is the lesion growing?")
    for path in mr_series:
        state = api.send(upload, f"CD/{path.name}", path.read_bytes())
        assert state["status"] == "received"
    status = api.status(upload)
    assert status["state"] == "done"
    assert status["counts"]["done"] == 20 and status["counts"]["rejected"] == 0
    study = Study.objects.get(owner=patient)
    assert study.status == StudyStatus.READY
    assert case_of(study).clinical_question == "Is the lesion growing?"
    assert study.modalities == "MR"
    assert Instance.objects.filter(series__study=study).count() == 20
    # Slices are ordered along the slice normal.
    positions = list(
        Instance.objects.filter(series__study=study).values_list("slice_position", flat=True)
    )
    assert None not in positions
    assert positions == sorted(p for p in positions if p is not None)
    # Stored files are de-identified and readable; quarantine is empty; names are dropped.
    instance = Instance.objects.filter(series__study=study).first()
    assert instance is not None
    with default_storage.open(instance.file, "rb") as handle:
        ds = pydicom.dcmread(handle)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.SOPInstanceUID == instance.sop_instance_uid
    assert quarantine.is_empty()
    assert not UploadFile.objects.exclude(name="").exists()
    # What the back-end itself holds (the bucket's keys on S3): each instance once, no more.
    files = sorted(Instance.objects.values_list("file", flat=True))
    assert storage.names("instances/") == files and len(set(files)) == 20
    assert storage.names("quarantine/") == []


@pytest.mark.usefixtures("storage")
def test_resume_mid_file_after_a_dropped_connection(api: Any, patient: Any) -> None:
    data = sample_bytes("CT_small.dcm")
    upload = api.create(1)
    state = api.register(upload, "ct.dcm", data)
    assert state["received"] == 0
    assert api.put(upload, data, 0, 10000).status_code == 200
    # The connection dropped; the client asks again and resumes where the server stopped.
    state = api.register(upload, "ct.dcm", data)
    assert state["received"] == 10000 and state["status"] == "receiving"
    # A chunk at the wrong offset is refused with the right one.
    wrong = api.put(upload, data, 5000, 100)
    assert wrong.status_code == 409 and wrong.json()["received"] == 10000
    rest = api.put(upload, data, 10000)
    assert rest.status_code == 200 and rest.json()["status"] == "received"
    assert api.status(upload)["counts"]["done"] == 1


def test_files_already_stored_are_not_sent_again(api: Any, patient: Any) -> None:
    data = sample_bytes("MR_small.dcm")
    first = api.create(1)
    api.send(first, "mr.dcm", data)
    second = api.create(1)
    state = api.register(second, "mr.dcm", data)
    assert state["status"] == "duplicate" and state["received"] == len(data)
    assert api.status(second)["state"] == "done"
    assert Instance.objects.count() == 1
    assert Study.objects.get().uploads.count() == 2


def test_same_instance_with_other_bytes_is_stored_once(api: Any, patient: Any) -> None:
    data = sample_bytes("CT_small.dcm")
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
    ds.ImageComments = "re-exported copy"
    other = pydicom.filebase.DicomBytesIO()
    ds.save_as(other, enforce_file_format=True)
    upload = api.create(2)
    api.send(upload, "a.dcm", data)
    state = api.send(upload, "b.dcm", other.getvalue())
    assert state["status"] == "received"
    files = {f["key"]: f for f in api.status(upload)["files"]}
    assert files[sha(other.getvalue())]["status"] == "duplicate"
    assert Instance.objects.count() == 1


def no_pixels() -> bytes:
    ds = pydicom.dcmread(get_file("CT_small.dcm"))
    del ds.PixelData
    out = pydicom.filebase.DicomBytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def huge() -> bytes:
    ds = pydicom.dcmread(get_file("CT_small.dcm"))
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 100000 // 65535 + 1
    out = pydicom.filebase.DicomBytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def get_file(name: str) -> str:
    from pydicom.data import get_testdata_file

    return str(get_testdata_file(name))


def test_bad_files_get_a_message_and_the_rest_survives(api: Any, patient: Any) -> None:
    good = sample_bytes("MR_small.dcm")
    inputs = {
        "truncated.dcm": sample_bytes("CT_small.dcm")[:3000],
        "notes.dcm": b"Hello, this is a text file, not DICOM\n" * 20,
        "no-pixels.dcm": no_pixels(),
        "huge.dcm": huge(),
        "evil.zip": zip_bytes(
            {"../../etc/passwd.dcm": good, "ok/inside.dcm": sample_bytes("CT_small.dcm")}
        ),
        "bomb.zip": zip_bytes({"big.dcm": b"\0" * (300 * 1024**2)}),
        "good.dcm": good,
    }
    upload = api.create(len(inputs))
    for name, data in inputs.items():
        api.send(upload, name, data)
    status = api.status(upload)
    assert status["state"] == "done"
    reasons = {r["name"]: r["reason"] for r in status["rejected"]}
    assert "truncated" in reasons["truncated.dcm"] or "not" in reasons["truncated.dcm"]
    assert "not" in reasons["notes.dcm"] and "DICOM" in reasons["notes.dcm"]
    assert "without pixel data" in reasons["no-pixels.dcm"]
    assert "too large" in reasons["huge.dcm"]
    traversal = [r for n, r in reasons.items() if "passwd" in n]
    assert traversal and all("path" in r for r in traversal), reasons
    assert any("bomb" in n or "big" in n for n in reasons), reasons
    # good.dcm and the safe ZIP entry are stored as two studies' instances.
    assert status["counts"]["done"] == 2
    assert Instance.objects.count() == 2
    assert quarantine.is_empty()
    assert Upload.objects.get(pk=upload).state == Upload.State.DONE


def test_registration_limits(login: Any, patient: Any, settings: Any) -> None:
    client = UploadClient(login(patient))
    settings.UPLOAD_MAX_FILE_SIZE = 1000
    upload = client.create(3)
    state = client.register(upload, "big.dcm", b"x" * 2000)
    assert state["status"] == "rejected" and "too large" in state["message"]
    settings.UPLOAD_MAX_FILE_SIZE = 10**9
    settings.USER_QUOTA_BYTES = 1500
    state = client.register(upload, "other.dcm", b"y" * 1600)
    assert state["status"] == "rejected" and "quota" in state["message"]
    bad = client.client.post(
        f"/api/uploads/{upload}/files/", {"files": [{"key": "../x", "size": 3}]},
        content_type="application/json",
    )  # fmt: skip
    assert bad.status_code == 400
    assert (
        client.client.post("/api/uploads/", {}, content_type="application/json").status_code == 400
    )


def test_chunk_past_declared_size_and_unknown_key(login: Any, patient: Any) -> None:
    client = UploadClient(login(patient))
    data = sample_bytes("CT_small.dcm")
    upload = client.create(1)
    client.register(upload, "ct.dcm", data)
    response = client.client.generic(
        "PUT", f"/api/uploads/{upload}/files/{sha(data)}", data + b"extra",
        content_type="application/octet-stream", headers={"Upload-Offset": "0"},
    )  # fmt: skip
    assert response.status_code == 400
    response = client.client.generic(
        "PUT", f"/api/uploads/{upload}/files/{'0' * 64}", b"abc",
        content_type="application/octet-stream", headers={"Upload-Offset": "0"},
    )  # fmt: skip
    assert response.status_code == 404


def test_cancel_discards_quarantine(login: Any, patient: Any) -> None:
    client = UploadClient(login(patient))
    data = sample_bytes("CT_small.dcm")
    upload = client.create(2)
    client.register(upload, "ct.dcm", data)
    assert client.put(upload, data, 0, 5000).status_code == 200
    assert not quarantine.is_empty()
    response = client.client.post(f"/api/uploads/{upload}/cancel/")
    assert response.json()["state"] == "cancelled"
    assert quarantine.is_empty()
    assert UploadFile.objects.get().status == FileStatus.REJECTED
    assert client.put(upload, data, 5000).status_code == 409


def test_uploads_are_private(
    login: Any, patient: Any, other_patient: Any, radiologist: Any
) -> None:
    upload = UploadClient(login(patient)).create(1)
    for user, code in [(other_patient, 404), (radiologist, 403)]:
        client = login(user)
        assert client.get(f"/api/uploads/{upload}/").status_code == code
        assert client.post(f"/api/uploads/{upload}/cancel/").status_code == code
    client.logout()
    assert client.get(f"/api/uploads/{upload}/").status_code == 302


def test_uploader_key_is_derived_not_the_server_secret(
    login: Any, patient: Any, other_patient: Any, settings: Any
) -> None:
    first = login(patient).get("/api/uploads/config/").json()
    second = login(other_patient).get("/api/uploads/config/").json()
    assert len(first["uploader_key"]) == 64
    assert first["uploader_key"] != second["uploader_key"]
    assert settings.DEID_SECRET not in str(
        first
    ) and settings.DEID_SECRET.encode().hex() not in str(first)
