"""Damaged and hostile input: the renderer returns a PNG or raises DicomInputError."""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import MAX_FRAME_VALUES, RenderRequest, image_info, render_png

# Small real files in different syntaxes, so damage reaches different decoders.
SEEDS = [
    "MR_small.dcm",  # native 16-bit
    "MR_small_RLE.dcm",  # RLE
    "MR_small_jp2klossless.dcm",  # JPEG 2000
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless RGB
    "SC_rgb_dcmtk_+eb+cy+np.dcm",  # JPEG baseline YBR_FULL_422
    "emri_small_big_endian.dcm",  # big endian multi-frame
]


def _load_seeds() -> dict[str, bytes]:
    seeds = {}
    for name in SEEDS:
        path = get_testdata_file(name, download=False)
        if path is not None:
            seeds[name] = Path(str(path)).read_bytes()
    return seeds


SEED_BYTES = _load_seeds()


def _render_or_input_error(data: bytes, frame: int = 0) -> None:
    try:
        result = render_png(data, RenderRequest(frame=frame))
    except DicomInputError as exc:
        assert str(exc)  # a message for the uploader
        return
    with Image.open(io.BytesIO(result.png)) as img:
        img.load()
        assert img.size == (result.width, result.height)
        assert img.mode == result.mode


@pytest.mark.skipif(not SEED_BYTES, reason="pydicom test files missing")
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    name=st.sampled_from(sorted(SEED_BYTES)),
    cut=st.floats(min_value=0.0, max_value=1.0),
    flips=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=0.9999), st.integers(1, 255)),
        max_size=8,
    ),
    frame=st.integers(0, 2),
)
def test_truncated_or_corrupted_files_render_or_raise_input_error(
    name: str, cut: float, flips: list[tuple[float, int]], frame: int
) -> None:
    data = bytearray(SEED_BYTES[name])
    for where, xor in flips:
        data[int(where * len(data))] ^= xor
    if cut < 0.5:  # half of the examples are truncated too
        data = data[: int(len(data) * cut * 2)]
    _render_or_input_error(bytes(data), frame)


@pytest.mark.skipif(not SEED_BYTES, reason="pydicom test files missing")
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SEED_BYTES)),
    cut=st.floats(min_value=0.0, max_value=1.0),
)
def test_image_info_on_truncated_files_never_crashes(name: str, cut: float) -> None:
    data = SEED_BYTES[name][: int(len(SEED_BYTES[name]) * cut)]
    try:
        info = image_info(data)
    except DicomInputError:
        return
    assert isinstance(info, dict)


def _image(rows: int, columns: int, pixel_bytes: bytes, **extra: object) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientName = "Doe^Jane"
    ds.Modality = "OT"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = pixel_bytes
    for key, value in extra.items():
        setattr(ds, key, value)
    return ds


def _as_file(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("rows", "columns", "frames"),
    [(65535, 65535, 1), (65535, 65535, 1000), (40000, 40000, 1), (2, 2, 10**9)],
)
def test_huge_declared_dimensions_fail_fast_without_allocating(
    rows: int, columns: int, frames: int
) -> None:
    data = _as_file(_image(rows, columns, b"\x00\x01" * 64, NumberOfFrames=frames))
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DicomInputError) as info:
            render_png(data, RenderRequest(frame=min(frames - 1, 5)))
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    message = str(info.value)
    assert "Doe" not in message and "Jane" not in message
    if rows * columns > MAX_FRAME_VALUES:
        assert "too large" in message


def test_short_pixel_data_is_an_input_error() -> None:
    data = _as_file(_image(512, 512, b"\x00\x01" * 100))
    with pytest.raises(DicomInputError, match="corrupt or truncated"):
        render_png(data)


def test_error_messages_carry_no_patient_data() -> None:
    path = get_testdata_file("MR_small.dcm", download=False)
    if path is None:
        pytest.skip("MR_small.dcm missing")
    ds = pydicom.dcmread(str(path))
    ds.PatientName = "Sensitive^Name"
    ds.PatientID = "ID-424242"
    ds.PixelData = ds.PixelData[:100]
    with pytest.raises(DicomInputError) as info:
        render_png(_as_file(ds))
    text = f"{info.value} {info.value.__cause__}"
    assert "Sensitive" not in str(info.value) and "424242" not in str(info.value)
    assert text  # the chained cause is kept for the logs


def test_unsupported_photometric_interpretation() -> None:
    ds = _image(4, 4, np.zeros(16, np.uint16).tobytes(), PhotometricInterpretation="HSV")
    with pytest.raises(DicomInputError, match="HSV"):
        render_png(ds)


def test_unsupported_transfer_syntax() -> None:
    ds = _image(4, 4, np.zeros(16, np.uint16).tobytes())
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: video, not decodable
    with pytest.raises(DicomInputError, match="not supported"):
        render_png(ds)


def test_bare_dataset_without_file_meta_renders() -> None:
    ds = _image(4, 4, np.arange(16, dtype=np.uint16).tobytes())
    del ds.file_meta
    buffer = io.BytesIO()
    ds.save_as(buffer, implicit_vr=True, little_endian=True)  # no preamble, no meta
    assert b"DICM" not in buffer.getvalue()[:132]
    result = render_png(buffer.getvalue())
    assert (result.width, result.height) == (4, 4)
