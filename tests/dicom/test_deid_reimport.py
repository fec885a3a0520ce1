"""The server's own output de-identified again keeps its UIDs, pseudonym and dates;
anything under the shared 2.25 root (e.g. the browser step's output) is remapped."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

from uploads.dicom.deidentify import DeidOptions, deidentify_bytes
from uploads.dicom.uids import DEFAULT_UID_ROOT, is_valid_uid

ROOT = "2.25.171586514918853302742"
KEY = b"server-secret"


def read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def uids(ds: pydicom.Dataset) -> tuple[str, str, str, str]:
    return (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID,
            ds.FrameOfReferenceUID)  # fmt: skip


def test_own_output_is_a_fixed_point() -> None:
    original = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
    once, first = deidentify_bytes(original, key=KEY, options=DeidOptions(), uid_root=ROOT)
    twice, second = deidentify_bytes(once, key=KEY, options=DeidOptions(), uid_root=ROOT)
    a, b = read(once), read(twice)
    assert uids(a) == uids(b)
    assert all(uid.startswith(ROOT + ".") and len(uid) <= 64 for uid in uids(a))
    assert a.PatientID == b.PatientID == first.patient_pseudonym == second.patient_pseudonym
    assert a.StudyDate == b.StudyDate and a.LongitudinalTemporalInformationModified == "MODIFIED"
    assert a.file_meta.MediaStorageSOPInstanceUID == b.SOPInstanceUID
    # Another key, or the same key for another scope (another account), did not issue
    # these UIDs: they are replaced, whatever their prefix.
    other, _ = deidentify_bytes(once, key=b"other", options=DeidOptions(), uid_root=ROOT)
    assert not set(uids(read(other))) & set(uids(a))
    scoped, _ = deidentify_bytes(once, key=KEY, uid_root=ROOT, uid_scope="owner:2")
    assert not set(uids(read(scoped))) & set(uids(a))


def test_uids_are_kept_only_for_the_scope_they_were_issued_for() -> None:
    """A UID under the owned root is kept only when its check digits verify for this key
    and scope (issue 13: one account re-sending another's UIDs)."""
    original = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
    alice, _ = deidentify_bytes(original, key=KEY, uid_root=ROOT, uid_scope="owner:1")
    again, result = deidentify_bytes(alice, key=KEY, uid_root=ROOT, uid_scope="owner:1")
    assert uids(read(again)) == uids(read(alice)) and result.invalid_uids == 0
    bob, _ = deidentify_bytes(alice, key=KEY, uid_root=ROOT, uid_scope="owner:2")
    assert not set(uids(read(bob))) & set(uids(read(alice)))
    # The same original in two accounts: unrelated UIDs (not just other check digits).
    other, _ = deidentify_bytes(original, key=KEY, uid_root=ROOT, uid_scope="owner:2")
    for mine, theirs in zip(uids(read(alice)), uids(read(other)), strict=True):
        assert mine[: len(ROOT) + 12] != theirs[: len(ROOT) + 12]
    # A made-up UID under the root, and an invalid one, are replaced (and counted).
    ds = read(alice)
    ds.SOPInstanceUID = f"{ROOT}.1234567890123456789012345678901234"[:64]
    ds.SeriesInstanceUID = f"{ROOT}.79/../../probe"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    clean, result = deidentify_bytes(out.getvalue(), key=KEY, uid_root=ROOT, uid_scope="owner:1")
    assert read(clean).SOPInstanceUID != ds.SOPInstanceUID
    assert read(clean).SeriesInstanceUID != ds.SeriesInstanceUID
    assert is_valid_uid(read(clean).SeriesInstanceUID)
    assert result.invalid_uids == 1


def test_shared_root_output_is_remapped_by_the_server() -> None:
    original = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
    browser, _ = deidentify_bytes(original, key=b"uploader", uid_root=DEFAULT_UID_ROOT)
    server, result = deidentify_bytes(browser, key=KEY, uid_root=ROOT)
    b, s = read(browser), read(server)
    assert all(uid.startswith(ROOT + ".") for uid in uids(s))
    assert not set(uids(b)) & set(uids(s))
    assert s.PatientID != b.PatientID and result.patient_pseudonym == s.PatientID
    # The shared root never counts as "ours": de-identifying again remaps again.
    again, _ = deidentify_bytes(browser, key=b"uploader2", uid_root=DEFAULT_UID_ROOT)
    assert read(again).SOPInstanceUID != b.SOPInstanceUID


def test_a_forged_marker_without_our_uids_is_not_trusted() -> None:
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    ds.PatientID = ds.PatientName = "PSN-ABCDEFGHIJ"
    ds.PatientIdentityRemoved = "YES"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    clean, result = deidentify_bytes(out.getvalue(), key=KEY, uid_root=ROOT)
    assert result.patient_pseudonym != "PSN-ABCDEFGHIJ"
    assert read(clean).SOPInstanceUID != ds.SOPInstanceUID
