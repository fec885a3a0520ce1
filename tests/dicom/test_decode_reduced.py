"""Reduced-resolution JPEG 2000 decoding (uploads.dicom.decode) is faithful.

A viewport smaller than the image is rendered from a JPEG 2000 resolution level
(ISO/IEC 15444-1 B.5) instead of the full image. These tests compare, on real files
(lossless and lossy, 8/12/14/15/16-bit, MONOCHROME1/2, RGB from YBR_RCT/YBR_ICT, HTJ2K),
that render with "full decode, then the same bilinear resize" (what the renderer did
before), and check that the reduced path was really taken.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, get_frame

from uploads.dicom import decode, render
from uploads.dicom.render import AUTO, RenderRequest, render_array, render_png

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "dicom" / "pydicom-data-git"

PYDICOM = [
    "MR2_J2KR.dcm",  # 1024² MR, 12-bit, lossless
    "MR2_J2KI.dcm",  # the same, lossy
    "US1_J2KR.dcm",  # 640x480 ultrasound, YBR_RCT (RGB), lossless
    "US1_J2KI.dcm",  # the same, YBR_ICT, lossy
    "RG1_J2KR.dcm",  # 1841x1955 CR, 15-bit, MONOCHROME1
    "RG3_J2KR.dcm",  # 1760² CR, 10-bit, MONOCHROME1
    "RG3_J2KI.dcm",
    "693_J2KR.dcm",  # 512² CT, signed 14-bit in 16
    "693_J2KI.dcm",
]
HTJ2K = ["HTJ2KLossless_08_RGB.dcm", "HTJ2K_08_RGB.dcm"]


def _paths() -> list[object]:
    out: list[object] = []
    for name in PYDICOM:
        path = get_testdata_file(name)
        out.append(pytest.param(path, id=name) if path else None)
    for name in HTJ2K:
        mark = pytest.mark.skipif(not (SHARED / name).exists(), reason="../shared absent")
        out.append(pytest.param(str(SHARED / name), id=name, marks=mark))
    return [p for p in out if p is not None]


FILES = _paths()


def _codestream(path: str) -> tuple[pydicom.Dataset, bytes]:
    ds = pydicom.dcmread(path)
    return ds, get_frame(ds.PixelData, 0, number_of_frames=int(ds.get("NumberOfFrames", 1)))


@pytest.mark.parametrize("path", FILES)
def test_sample_mapping_is_exact_at_full_resolution(path: str) -> None:
    """Pillow's 16-bit scaling and sign offset are undone bit for bit (level 0 vs pydicom)."""
    ds, data = _codestream(path)
    stream = decode.parse_codestream(data)
    assert stream is not None and (stream.height, stream.width) == (ds.Rows, ds.Columns)
    out = decode.decode_reduced(
        data,
        stream,
        0,
        photometric=ds.PhotometricInterpretation,
        bits_allocated=ds.BitsAllocated,
        signed=ds.PixelRepresentation == 1,
    )
    assert out is not None
    expected = ds.pixel_array
    assert out[0].dtype == expected.dtype
    assert np.array_equal(out[0], expected)


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("size", [128, 256, 512])
@pytest.mark.parametrize("path", FILES)
def test_reduced_render_matches_full_decode_and_resize(path: str, size: int) -> None:
    """The reduced render is as close to "full decode + bilinear resize" as two standard
    downscaling filters are to each other.

    Bound, from measurement (2025, Pillow 13 / OpenJPEG 2.5.4): the mean absolute
    difference on the 8-bit output is ≤ 3x the spread between bilinear and Lanczos
    downscaling of the same full render (+0.5 grey level of slack for the rounding in
    two LUT/resize orders), and PSNR ≥ 25 dB. Measured worst cases: 1.2 mean/42.6 dB
    (MR2 at 512, spread 1.3) and 4.0 mean/25.5 dB for the 512² CT at 128 pixels (two
    levels below full, window 40/100, where one HU is 2.5 grey levels; spread 1.6). A
    lost half-pixel phase correction (sample j of level r lies on pixel 2**r·j) fails
    this: MR2 at 512 then differs by 3.7 mean / 32.6 dB, 2.8x its spread.
    """
    data = Path(path).read_bytes()
    loaded = render._load(data, 0, size)
    full = render_array(data, RenderRequest())
    got = render_array(data, RenderRequest(size=size))
    height, width = got.shape[:2]
    if loaded.shape is None:  # no level ≥ the output below full: the full path, bit for bit
        assert (math.ceil(full.shape[0] / 2), math.ceil(full.shape[1] / 2)) < (height, width)
        assert np.array_equal(got, render._resize(full, width, height))
        return
    assert loaded.arr.shape[:2] != full.shape[:2]  # the reduced path was taken
    assert min(loaded.arr.shape[1] - width, loaded.arr.shape[0] - height) >= 0  # no upscale
    reference = render._resize(full, width, height)
    lanczos = np.asarray(Image.fromarray(full).resize((width, height), Image.Resampling.LANCZOS))
    spread = _mean_abs(reference, lanczos)
    assert _mean_abs(got, reference) <= 3 * spread + 0.5
    assert _psnr(got, reference) >= 25.0


@pytest.mark.parametrize("size", [256, 512])
@pytest.mark.parametrize("path", FILES)
def test_window_does_not_change(path: str, size: int) -> None:
    """The file's window is used as is; the automatic window moves by ≤ 3% of its width.

    The automatic window is computed from the frame it renders (here a reduced level):
    measured worst case 1.0% (centre) and 2.0% (width) for the 512² CT at 256 pixels,
    ≤ 0.4% for the 1024² MR and the CRs; 3% of the width is 8 grey levels at worst at one
    end of the window, and the viewer displays the window it was sent (the viewer asks
    for 256 pixels only below a 256-pixel viewport).
    """
    data = Path(path).read_bytes()
    for preset in (None, AUTO):
        full = render_png(data, RenderRequest(preset=preset)).window_used
        small = render_png(data, RenderRequest(size=size, preset=preset)).window_used
        if full is None or small is None:
            assert full is small is None
            continue
        if preset is None and "WindowCenter" in pydicom.dcmread(path, stop_before_pixels=True):
            assert small == full
        assert abs(small.center - full.center) <= 0.03 * full.width
        assert abs(small.width - full.width) <= 0.03 * full.width


def test_reduction_never_upscales() -> None:
    assert decode.reduction_for(1024, 1024, 5, 512, 512) == 1
    assert decode.reduction_for(1024, 1024, 5, 513, 512) == 0
    assert decode.reduction_for(1024, 1024, 5, 100, 100) == 3
    assert decode.reduction_for(1024, 1024, 2, 100, 100) == 2  # no more levels
    assert decode.reduction_for(1955, 1841, 5, 121, 128) == 3  # ⌈1955/16⌉ = 123 < 128
    assert decode.reduction_for(1955, 1841, 5, 231, 245) == 3


def _with_codestream(levels: int) -> pydicom.Dataset:
    """MR2 cut to 256² 8-bit and re-encoded (lossless) with `levels` decomposition levels."""
    path = get_testdata_file("MR2_J2KR.dcm")
    assert path is not None
    ds = pydicom.dcmread(path)
    arr = (ds.pixel_array[384:640, 384:640] >> 4).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, "JPEG2000", no_jp2=True, num_resolutions=levels + 1)
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds.Rows = ds.Columns = 256
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    for keyword in ("WindowCenter", "WindowWidth"):
        del ds[keyword]
    return ds


def test_file_without_reduced_levels_falls_back_to_full_decode() -> None:
    """A codestream with 0 decomposition levels has no smaller level: full decode."""
    flat = _with_codestream(0)
    stream = decode.parse_codestream(get_frame(flat.PixelData, 0, number_of_frames=1))
    assert stream is not None and stream.levels == 0
    loaded = render._load(flat, 0, 64)
    assert loaded.shape is None and loaded.arr.shape == (256, 256)
    assert render_array(flat, RenderRequest(size=64)).shape == (64, 64)
    # The same image with 3 levels goes down to the 64² level.
    pyramid = _with_codestream(3)
    loaded = render._load(pyramid, 0, 64)
    assert loaded.shape == (256, 256) and loaded.arr.shape == (64, 64)
    assert loaded.arr.dtype == np.uint8


def test_damaged_codestream_falls_back() -> None:
    assert decode.parse_codestream(b"") is None
    assert decode.parse_codestream(b"\xff\x4f\xff\x51\x00") is None
    path = get_testdata_file("MR2_J2KR.dcm")
    assert isinstance(path, str)
    _, data = _codestream(path)
    stream = decode.parse_codestream(data)
    assert stream is not None

    def reduced(data: bytes, photometric: str = "MONOCHROME2", signed: bool = False) -> object:
        return decode.decode_reduced(
            data, stream, 1, photometric=photometric, bits_allocated=16, signed=signed
        )

    assert reduced(data) is not None
    assert reduced(data[:200]) is None  # truncated inside the first tile
    assert reduced(data, signed=True) is None  # sign differs from the data set's
    assert reduced(data, photometric="RGB") is None  # one component is not RGB
