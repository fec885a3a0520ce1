"""The spliced encoder (uploads/dicom/encode.py) writes exactly what pydicom writes.

Every sample file nobody here wrote — pydicom's own test files, PyPI pydicom-data's, and
../shared/dicom when present — is de-identified twice; one copy is written by
``dcmwrite(enforce_file_format=True)`` (the engine's ordinary writer), the other by
``encode_file``. The bytes must be identical, or ``encode_file`` must decline (None).
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom.data
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from uploads.dicom.deid.elements import quiet
from uploads.dicom.deid.files import read, write
from uploads.dicom.deidentify import deidentify
from uploads.dicom.encode import encode_file
from uploads.dicom.errors import DicomInputError

from .conftest import SHARED_DIR

KEY = b"k" * 32
#: Larger files add time, not cases.
MAX_SIZE = 8 * 1024**2


def sample_files() -> list[Path]:
    folders = [Path(pydicom.data.__file__).parent / "test_files"]
    try:
        import data_store  # PyPI pydicom-data

        folders.append(Path(data_store.__file__).parent)
    except ImportError:
        pass
    if (SHARED_DIR / "dicom").is_dir():
        folders.append(SHARED_DIR / "dicom")
    return sorted(
        path
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() not in {".py", ".pyc", ".txt", ".md", ".json"}
        and 0 < path.stat().st_size <= MAX_SIZE
    )  # fmt: skip


def deidentified(data: bytes) -> Dataset:
    with quiet():
        ds = read(data)
        deidentify(ds, key=KEY, uid_root="2.25.1", uid_scope="owner:1")
    return ds


def test_same_bytes_as_pydicom_on_every_sample() -> None:
    spliced = declined = 0
    for path in sample_files():
        data = path.read_bytes()
        try:
            reference_ds, ds = deidentified(data), deidentified(data)
        except DicomInputError:
            continue  # not DICOM, or refused: nothing is written
        try:
            reference = write(reference_ds)
        except Exception:
            continue  # pydicom cannot write it either (the engine refuses the file)
        with quiet():
            encoded = encode_file(ds, data)
        if encoded is None:
            declined += 1
            continue
        assert encoded == reference, path.name
        spliced += 1
    # The shortcut must actually be taken: nearly every readable file qualifies.
    assert spliced >= 150, (spliced, declined)
    assert declined <= spliced // 10, (spliced, declined)


def test_changed_raw_element_is_written_from_its_new_value() -> None:
    """An element still raw but with a new value (as de-identification's byte-level
    replacements leave it) is encoded from the value, not copied from the source."""
    path = str(pydicom.data.get_testdata_file("CT_small.dcm"))
    data = Path(path).read_bytes()
    ds = deidentified(data)
    changed = [
        elem.tag
        for elem in (ds.get_item(tag) for tag in ds.keys())  # noqa: SIM118
        if elem.is_raw and elem.value_tell and not data.startswith(elem.value, elem.value_tell)
    ]
    assert changed  # UIDs replaced on the bytes: still raw, with new values
    assert b"CompressedSamples" in data  # the original Patient Name
    with quiet():
        encoded = encode_file(ds, data)
    assert encoded is not None
    assert b"CompressedSamples" not in encoded
    again = dcmread(io.BytesIO(encoded))
    assert again.PatientName == ds.PatientName
    for tag in changed:
        assert again[tag].value == ds[tag].value
    assert again.pixel_array.tobytes() == dcmread(path).pixel_array.tobytes()


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm", "rtplan.dcm"])
def test_declines_when_the_encoding_changes(name: str) -> None:
    data = Path(str(pydicom.data.get_testdata_file(name))).read_bytes()
    ds = deidentified(data)
    ds.file_meta.TransferSyntaxUID = (
        pydicom.uid.ImplicitVRLittleEndian
        if ds.original_encoding != (True, True)
        else pydicom.uid.ExplicitVRLittleEndian
    )
    assert encode_file(ds, data) is None
