"""Isolation of stored data between accounts (issue 13, points 1, 2, 3 and 11).

Each test is an attack that worked on the first version of the portal: one account
replacing or reading another's stored images, a client-chosen UID deleting a file
outside the study folder, a ZIP filling storage past the quota, and a PACS push landing
in any account. The uploads go through the real API and the real ingest pipeline (tasks
run eagerly on commit) on the real storage back-end.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.files.storage import default_storage
from pydicom.data import get_testdata_file

from tests.uploads.conftest import UploadClient, sample_bytes, zip_bytes
from uploads.models import FileStatus, Instance, Study, Upload, UploadFile

pytestmark = pytest.mark.django_db


class Sender:
    """An account's upload client with the on-commit ingest tasks executed."""

    def __init__(self, client: Any, capture: Any) -> None:
        self.client = UploadClient(client)
        self.capture = capture

    def upload(self, files: dict[str, bytes]) -> dict[str, Any]:
        with self.capture(execute=True):
            upload = self.client.create(len(files))
            for name, data in files.items():
                self.client.send(upload, name, data)
        return self.client.status(upload)


@pytest.fixture
def senders(
    client: Any, patient: Any, other_patient: Any, django_capture_on_commit_callbacks: Any
) -> tuple[Sender, Sender]:
    from django.test import Client

    a, b = Client(), Client()
    a.force_login(patient)
    b.force_login(other_patient)
    return (
        Sender(a, django_capture_on_commit_callbacks),
        Sender(b, django_capture_on_commit_callbacks),
    )


def stored_bytes(instance: Instance) -> bytes:
    with default_storage.open(instance.file, "rb") as handle:
        return bytes(handle.read())


def digest(instance: Instance) -> str:
    return hashlib.sha256(stored_bytes(instance)).hexdigest()


def encode(ds: pydicom.Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def forged_copy(victim: Instance, source: str, pixels: bytes | None = None) -> bytes:
    """Another real file made to look like the victim's stored instance: its UIDs, its
    pseudonym and the "already de-identified" markers, with other pixels."""
    with default_storage.open(victim.file, "rb") as handle:
        theirs = pydicom.dcmread(handle, stop_before_pixels=True)
    ds = pydicom.dcmread(str(get_testdata_file(source)))
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientID",
                    "PatientName", "PatientIdentityRemoved"):  # fmt: skip
        setattr(ds, keyword, theirs.get(keyword))
    ds.SOPClassUID = theirs.SOPClassUID
    if pixels is not None:
        ds.PixelData = pixels
    return encode(ds)


def test_an_account_cannot_replace_or_read_another_accounts_stored_file(
    senders: tuple[Sender, Sender], patient: Any, other_patient: Any
) -> None:
    """Point 1: B re-sends A's UIDs (read from a share link's attributes) with other
    pixels: a file of another size used to replace A's file; one of the same size made
    B's instance point at A's file (B read A's pixels)."""
    alice, bob = senders
    assert alice.upload({"ct.dcm": sample_bytes("CT_small.dcm")})["state"] == "done"
    (victim,) = Instance.objects.filter(series__study__owner=patient)
    before, name = digest(victim), victim.file

    # Another size: MR_small's pixels under A's CT UIDs.
    other_size = forged_copy(victim, "MR_small.dcm")
    # The same size: A's CT with every pixel inverted.
    original = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    inverted = bytes(255 - b for b in original.PixelData)
    same_size = forged_copy(victim, "CT_small.dcm", pixels=inverted)
    for forged in (same_size, other_size):
        state = bob.upload({"forged.dcm": forged})
        assert state["state"] == "done" and state["counts"]["rejected"] == 0

    victim.refresh_from_db()
    assert (victim.file, digest(victim)) == (name, before)
    # B has one instance (the second file has the same UIDs: a duplicate in B's account),
    # under UIDs of B's own (A's were not issued for B), in a file of B's own.
    (theirs,) = Instance.objects.filter(series__study__owner=other_patient)
    assert theirs.file != victim.file
    assert theirs.sop_instance_uid != victim.sop_instance_uid
    assert pydicom.dcmread(io.BytesIO(stored_bytes(theirs))).PixelData == inverted


def test_a_pacs_push_cannot_replace_an_accounts_stored_file(
    require_postgres: None, transactional_db: None, patient: Any, admin_user: Any,
    settings: Any, django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    """Point 1 through the DICOM receiver: a push with A's UIDs to the receiver's owner."""
    from tests.uploads.test_dicom_receiver import free_port, send
    from uploads.intake import receiver as dicom_node

    alice = Sender(_logged_in(patient), django_capture_on_commit_callbacks)
    assert alice.upload({"ct.dcm": sample_bytes("CT_small.dcm")})["state"] == "done"
    (victim,) = Instance.objects.filter(series__study__owner=patient)
    before, name = digest(victim), victim.file
    forged = pydicom.dcmread(io.BytesIO(forged_copy(victim, "MR_small.dcm")))
    forged.SOPClassUID = pydicom.uid.CTImageStorage

    settings.DICOM_BIND = "127.0.0.1"
    port = free_port()
    server = dicom_node.serve(port, admin_user.pk, block=False)
    try:
        assert send(port, forged) == [dicom_node.SUCCESS]
        _wait(lambda: Instance.objects.filter(series__study__owner=admin_user).exists())
    finally:
        server.shutdown()
    victim.refresh_from_db()
    assert (victim.file, digest(victim)) == (name, before)
    pushed = Instance.objects.get(series__study__owner=admin_user)
    assert pushed.file != victim.file and pushed.sop_instance_uid != victim.sop_instance_uid


def _logged_in(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def _wait(condition: Any, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_uid_with_a_path_in_it_deletes_nothing(
    senders: tuple[Sender, Sender], settings: Any, other_patient: Any
) -> None:
    """Point 2: a kept SOP Instance UID '<root>.79/../../../../probe' deleted
    MEDIA_ROOT/probe.dcm. UIDs must be valid (PS3.5 §9.1) or they are replaced."""
    _, bob = senders
    probe = Path(settings.MEDIA_ROOT) / "probe.dcm"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b"not yours")
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    root = settings.DEID_UID_ROOT
    evil = f"{root}.79/../../../../probe"
    ds.SOPInstanceUID = evil
    ds.file_meta.MediaStorageSOPInstanceUID = evil
    ds.StudyInstanceUID = f"{root}.1"
    ds.SeriesInstanceUID = f"{root}.2"
    state = bob.upload({"evil.dcm": encode(ds)})
    assert state["state"] == "done"
    assert probe.read_bytes() == b"not yours"
    (instance,) = Instance.objects.filter(series__study__owner=other_patient)
    from uploads.dicom.uids import is_valid_uid

    for uid in (instance.sop_instance_uid, instance.series.series_instance_uid,
                instance.series.study.study_instance_uid):  # fmt: skip
        assert is_valid_uid(uid) and "/" not in uid
    assert ".." not in instance.file and instance.file.startswith("instances/")


def test_zip_members_count_against_the_quota(
    senders: tuple[Sender, Sender], settings: Any, patient: Any, mr_series: list[Path]
) -> None:
    """Point 3: a small ZIP of many files was stored whole past the quota, because only
    top-level files were counted."""
    alice, _ = senders
    members = {f"series/{p.name}": p.read_bytes() for p in mr_series}
    archive = zip_bytes(members)
    total = sum(len(data) for data in members.values())
    settings.USER_QUOTA_BYTES = total // 4
    assert len(archive) < settings.USER_QUOTA_BYTES  # the archive alone fits
    state = alice.upload({"cd.zip": archive})
    assert state["state"] == "done"
    sizes = Instance.objects.filter(series__study__owner=patient).values_list("size", flat=True)
    stored = sum(sizes)
    assert 0 < stored <= settings.USER_QUOTA_BYTES
    refused = UploadFile.objects.filter(upload__owner=patient, status=FileStatus.REJECTED)
    assert refused.count() >= 10
    assert all("quota" in message for message in refused.values_list("message", flat=True))
    assert Study.objects.filter(owner=patient).count() == 1
    assert Upload.objects.get(owner=patient).state == Upload.State.DONE
