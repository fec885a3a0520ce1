"""Property: damaged input gives DicomInputError or a valid result, never anything else."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread

from tests.dicom.conftest import sample_bytes
from uploads.dicom.deidentify import deidentify_bytes
from uploads.dicom.errors import DicomInputError

ORIGINAL = sample_bytes("MR_small.dcm")  # 10 kB, explicit VR, 64x64 16-bit
HEADER = 2500  # most of the data set before Pixel Data: where mutations bite
KEY = b"fuzz-key"

mutation = st.tuples(st.integers(0, HEADER), st.integers(0, 255))


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(ORIGINAL)
    for position, value in draw(st.lists(mutation, max_size=12)):
        data[position] = value
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        start = draw(st.integers(132, HEADER))
        data[start:start] = draw(st.binary(max_size=16))
    return bytes(data)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_files_fail_cleanly(data: bytes) -> None:
    try:
        output, result = deidentify_bytes(data, key=KEY)
    except DicomInputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    # Accepted: the output must be readable DICOM carrying the new identity.
    ds = dcmread(io.BytesIO(output))
    assert ds.SOPInstanceUID == result.sop_instance_uid
    assert ds.PatientIdentityRemoved == "YES"
