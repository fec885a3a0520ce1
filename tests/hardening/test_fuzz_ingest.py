"""Property: any mutation of a real file, run through the real ingest entry point
(``uploads.intake.ingest.process_file``: hash check, ZIP sniffing, de-identification, index,
limits, storage), ends stored or rejected with a message, never with an exception.

The engine's own fuzzers (tests/dicom/test_deid_fuzz.py, test_render_robustness.py)
cover de-identification and rendering alone; this one covers the pipeline around them.
"""

from __future__ import annotations

import hashlib
import io
import struct
from itertools import count
from typing import Any

import pydicom
import pytest
from django.core.files.storage import default_storage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening.conftest import assert_clear_message
from tests.hardening.corpus import element_offsets, sample, zip_of
from uploads.intake import ingest, quarantine
from uploads.models import FileStatus, Upload, UploadFile

pytestmark = pytest.mark.django_db

SEEDS = [
    "MR_small.dcm",  # explicit VR little endian
    "CT_small.dcm",  # explicit VR LE with a sequence
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "JPEG2000.dcm",
    "image_dfl.dcm",  # deflated data set
    "rtplan.dcm",  # no pixels, nested sequences
]
FINAL = {FileStatus.STORED, FileStatus.DUPLICATE, FileStatus.REJECTED, FileStatus.EXPANDED}
# Small damage more often than a cut (a cut file is refused early, at the first read).
KINDS = ["flip", "flip", "flip", "length", "length", "insert", "delete", "copy", "cut", "zip"]
EXTREMES = [0, 1, 3, 0xFF, 0xFFFF, 0xFFFE, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFF]
_keys = count()


def offsets(data: bytes) -> list[int]:
    """Element starts of explicit VR LE files (where length fields sit), else []."""
    try:
        return [start for start, _, _ in element_offsets(data)]
    except (AssertionError, struct.error):
        return []


@st.composite
def mutated(draw: Any) -> bytes:
    name = draw(st.sampled_from(SEEDS))
    data = bytearray(sample(name))
    starts = offsets(bytes(data))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(KINDS))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif kind == "length" and starts:
            start = draw(st.sampled_from(starts))
            value = draw(st.sampled_from(EXTREMES))
            # The 2-byte (short VR) or 4-byte (long VR) length field of a real element.
            long_vr = bytes(data[start + 4 : start + 6]) in {b"OB", b"OW", b"SQ", b"UN", b"UT"}
            if start + 12 <= len(data) and long_vr:
                struct.pack_into("<I", data, start + 8, value)
            elif start + 8 <= len(data):
                struct.pack_into("<H", data, start + 6, value & 0xFFFF)
        elif kind == "copy" and data:
            end = min(len(data), pos + draw(st.integers(1, 512)))
            data[pos:pos] = data[pos:end]
        elif kind == "zip":  # the mutated file inside an archive, sometimes twice
            inner = bytes(data)
            data = bytearray(zip_of({"a.dcm": inner, "dir/b.dcm": inner[: len(inner) // 2]}))
    return bytes(data)


def ingest_bytes(upload: Upload, data: bytes) -> list[UploadFile]:
    """Register ``data`` as a received file and run the pipeline on it (and any children)."""
    file = UploadFile.objects.create(
        upload=upload, key=hashlib.sha256(data).hexdigest() if data else f"empty-{next(_keys)}",
        name="fuzz.dcm", size=len(data), received=len(data), status=FileStatus.RECEIVED,
    )  # fmt: skip
    if data:
        quarantine.save_chunk(file, 0, data)
    pending = [file.pk]
    seen = []
    while pending:
        file_id = pending.pop()
        seen.append(file_id)
        outcome = ingest.process_file(file_id)
        if outcome is not None:
            pending.extend(outcome.follow_up)
    return list(UploadFile.objects.filter(pk__in=seen))


@pytest.mark.filterwarnings("ignore")
def test_mutated_files_end_stored_or_rejected_with_a_message(
    patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=mutated())
    def run(data: bytes) -> None:
        upload = Upload.objects.create(owner=patient, expected_files=1)
        with django_capture_on_commit_callbacks(execute=True):  # quarantine clean-up
            files = ingest_bytes(upload, data)
        for file in files:
            assert file.status in FINAL, file.status
            if file.status == FileStatus.REJECTED:
                assert_clear_message(file.message)
                assert file.message != ingest.INTERNAL_ERROR, "the pipeline failed unexpectedly"
            if file.status == FileStatus.STORED:
                assert file.instance is not None
                with default_storage.open(file.instance.file, "rb") as handle:
                    stored = pydicom.dcmread(io.BytesIO(handle.read()), stop_before_pixels=True)
                assert stored.PatientIdentityRemoved == "YES"
        assert quarantine.is_empty()

    run()
