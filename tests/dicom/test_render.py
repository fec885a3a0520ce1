"""Golden tests of the rendering engine against references computed with pydicom.

Each reference is built independently of the engine with pydicom's own
``pixel_array`` / ``apply_modality_lut`` / ``apply_voi_lut`` / ``convert_color_space`` /
``apply_color_lut`` plus numpy, with the same window, and must match within ±1 grey level.
Files: pydicom's bundled test files, pydicom-data (found offline by
``get_testdata_file``), and ``../shared/dicom`` (skipped when absent).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    convert_color_space,
    get_decoder,
    pixel_array,
)
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

from uploads.dicom import render
from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import (
    PRESETS,
    RenderRequest,
    Window,
    image_info,
    presets_for,
    render_array,
    render_png,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "dicom"
GE_CT = SHARED / "dcm_qa_ct" / "GE"
PDG = SHARED / "pydicom-data-git"


def data_path(name: str) -> str:
    """Path of a pydicom / pydicom-data test file (never downloads); skip if missing."""
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not installed (pydicom-data)")
    return str(path)


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (shared sample data lives beside the repository)")
    return path


def read(name: str) -> Dataset:
    return pydicom.dcmread(data_path(name))


def decode_png(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        assert img.format == "PNG"
        return np.asarray(img)


def assert_close(actual: np.ndarray, expected: np.ndarray, tol: int = 1) -> None:
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = np.abs(actual.astype(np.int32) - expected.astype(np.int32))
    assert int(diff.max()) <= tol, f"max difference {int(diff.max())} > {tol}"


# ---------------------------------------------------------------- references


def reference_grey(ds: Dataset, frame: int = 0, window: Window | None = None) -> np.ndarray:
    """pydicom's Modality LUT + VOI (window or VOI LUT) scaled to 8 bits, ±MONOCHROME1."""
    arr = pixel_array(ds, index=frame)
    if window is not None:
        for keyword in ("VOILUTSequence",):
            if keyword in ds:
                delattr(ds, keyword)
        ds.WindowCenter = window.center
        ds.WindowWidth = window.width
        ds.VOILUTFunction = window.function
    if "BitsStored" not in ds:  # float pixel data: pydicom's windowing needs a range
        ds.BitsStored, ds.PixelRepresentation = 32, 0
    modality = apply_modality_lut(arr, ds)
    with np.errstate(over="ignore"):  # SIGMOID at ±1e15
        voi = apply_voi_lut(modality, ds)
    if window is None and "VOILUTSequence" in ds:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        lo, hi = 0.0, float(2**bits - 1)
    else:
        with np.errstate(over="ignore"):
            lo, hi = (float(v) for v in apply_voi_lut(np.array([-1e15, 1e15]), ds))
    out = np.rint((voi.astype(np.float64) - lo) / (hi - lo) * 255).astype(np.uint8)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        out = 255 - out
    return out


def reference_rgb(ds: Dataset, frame: int = 0) -> np.ndarray:
    """RGB via pydicom: raw decode, then YCbCr → RGB when still YCbCr, 8-bit scaling."""
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    arr, props = decoder.as_array(ds, index=frame, raw=True)
    pi = props["photometric_interpretation"]
    if pi in ("YBR_FULL", "YBR_FULL_422"):
        arr = convert_color_space(arr, pi, "RGB")
    if arr.dtype != np.uint8:
        arr = np.rint(arr.astype(np.float64) * 255 / (2 ** int(ds.BitsStored) - 1))
    return arr.astype(np.uint8)


def reference_palette(ds: Dataset, frame: int = 0) -> np.ndarray:
    rgb = apply_color_lut(pixel_array(ds, index=frame), ds)
    scale = 255 if rgb.dtype == np.uint8 else 65535
    return np.rint(rgb.astype(np.float64) * 255 / scale).astype(np.uint8)


# ------------------------------------------------------- greyscale, per syntax

GREY_FILES = [
    # (file, why)
    ("MR_small.dcm", "Explicit VR LE, signed 16-bit, window"),
    ("MR_small_implicit.dcm", "Implicit VR LE"),
    ("MR_small_bigendian.dcm", "Explicit VR Big Endian"),
    ("MR_small_RLE.dcm", "RLE Lossless"),
    ("MR_small_jp2klossless.dcm", "JPEG 2000 lossless"),
    ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS lossless"),
    ("JPEGLSNearLossless_16.dcm", "JPEG-LS near-lossless 16-bit unsigned"),
    ("JPEGLSNearLossless_08.dcm", "JPEG-LS near-lossless 8-bit"),
    ("JPGExtended.dcm", "JPEG extended (process 2/4), 12-bit"),
    ("JPEG-LL.dcm", "JPEG lossless SV1, 16-bit signed"),
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", "JPEG lossless SV1, 8-bit"),
    ("JPEG2000.dcm", "JPEG 2000 (lossy syntax)"),
    ("image_dfl.dcm", "Deflated Explicit VR LE, 8-bit"),
    ("CT_small.dcm", "CT, rescale, no stored window (auto)"),
    ("6154", "CR MONOCHROME1, rescale slope 0.684, window"),
    ("mlut_18.dcm", "Modality LUT Sequence"),
    ("vlut_04.dcm", "VOI LUT Sequence"),
    ("693_J2KR.dcm", "JPEG 2000 lossless CT"),
    ("MR2_J2KI.dcm", "JPEG 2000 lossy MR 1024², rescale"),
    ("rtdose_1frame.dcm", "32-bit unsigned"),
]


@pytest.mark.parametrize(("name", "why"), GREY_FILES, ids=[f for f, _ in GREY_FILES])
def test_greyscale_matches_pydicom_reference(name: str, why: str) -> None:
    ds = read(name)
    result = render_png(data_path(name))
    assert result.mode == "L"
    out = decode_png(result.png)
    assert out.dtype == np.uint8 and out.ndim == 2
    window = result.window_used
    if window is None:
        assert "VOILUTSequence" in ds, "only a VOI LUT Sequence leaves window_used empty"
    expected = reference_grey(ds, 0, window if "WindowCenter" not in ds else None)
    assert (result.height, result.width) == expected.shape
    assert_close(out, expected)
    assert int(out.max()) > int(out.min()), f"{why}: rendered a flat image"


def test_file_window_is_reported_and_used() -> None:
    ds = read("MR_small.dcm")
    result = render_png(ds)
    assert result.window_used == Window(float(ds.WindowCenter), float(ds.WindowWidth))


def test_multi_valued_window_uses_the_first() -> None:
    ds = read("MR_small.dcm")
    ds.WindowCenter = [600, 100]
    ds.WindowWidth = [1600, 50]
    out = render_array(ds)
    assert render_png(ds).window_used == Window(600, 1600)
    single = read("MR_small.dcm")
    single.WindowCenter, single.WindowWidth = 600, 1600
    np.testing.assert_array_equal(out, render_array(single))


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_voi_lut_functions_match_pydicom(function: str) -> None:
    ds = read("CT_small.dcm")
    window = Window(40, 400, function)
    out = render_array(ds, RenderRequest(window=window))
    assert_close(out, reference_grey(read("CT_small.dcm"), 0, window))


def test_linear_exact_differs_from_linear_at_narrow_windows() -> None:
    ds = read("CT_small.dcm")
    linear = render_array(ds, RenderRequest(window=Window(40, 3, "LINEAR")))
    exact = render_array(ds, RenderRequest(window=Window(40, 3, "LINEAR_EXACT")))
    assert not np.array_equal(linear, exact)


def test_file_voi_lut_function_sigmoid_is_honoured() -> None:
    ds = read("CT_small.dcm")
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 40, 400, "SIGMOID"
    result = render_png(ds)
    assert result.window_used == Window(40, 400, "SIGMOID")
    ref = read("CT_small.dcm")
    assert_close(decode_png(result.png), reference_grey(ref, 0, Window(40, 400, "SIGMOID")))


def test_presets_are_applied_in_hounsfield_units() -> None:
    ds = read("CT_small.dcm")
    for name in ("lung", "bone", "brain"):
        out = render_array(ds, RenderRequest(preset=name))
        assert_close(out, reference_grey(read("CT_small.dcm"), 0, PRESETS[name]))
    lung = render_array(ds, RenderRequest(preset="lung"))
    brain = render_array(ds, RenderRequest(preset="brain"))
    assert lung.mean() != brain.mean()


def test_presets_for_modality() -> None:
    ct = presets_for("CT")
    assert {"lung", "mediastinum", "abdomen", "bone", "brain", "stroke", "auto"} <= set(ct)
    assert all(name in PRESETS or name == "auto" for name in ct)
    assert presets_for("MR") == ["auto"]
    assert presets_for(None) == ["auto"]
    assert PRESETS["lung"] == Window(-600, 1500)
    assert PRESETS["mediastinum"] == Window(50, 350)
    assert PRESETS["abdomen"] == Window(40, 400)
    assert PRESETS["brain"] == Window(40, 80)


def test_invalid_requests_raise_input_errors() -> None:
    with pytest.raises(DicomInputError):
        RenderRequest(preset="nope")
    with pytest.raises(DicomInputError):
        RenderRequest(window=Window(0, 10), preset="lung")
    with pytest.raises(DicomInputError):
        RenderRequest(frame=-1)
    with pytest.raises(DicomInputError):
        RenderRequest(size=0)
    with pytest.raises(DicomInputError):
        Window(0, 0.5)  # LINEAR needs a width of at least 1 (C.11.2.1.2)
    with pytest.raises(DicomInputError):
        Window(0, 10, "CUBIC")
    assert Window(0, 0.5, "linear_exact").function == "LINEAR_EXACT"


# --------------------------------------------------------------- MONOCHROME1


def test_monochrome1_is_inverted() -> None:
    ds = read("6154")
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    out = render_array(ds)
    as_mono2 = read("6154")
    as_mono2.PhotometricInterpretation = "MONOCHROME2"
    np.testing.assert_array_equal(out, 255 - render_array(as_mono2))
    # and the user's invert undoes it
    np.testing.assert_array_equal(render_array(ds, RenderRequest(invert=True)), 255 - out)


def test_real_monochrome1_radiograph() -> None:
    name = "RG1_UNCR.dcm"
    ds = read(name)
    out = render_array(data_path(name))
    assert_close(out, reference_grey(ds))
    # MONOCHROME1: low stored values (dense bone) are bright; the air at the edge dark.
    arr = pixel_array(ds)
    assert out[arr == arr.min()].mean() > out[arr == arr.max()].mean()


# ----------------------------------------------------------------- colour


RGB_FILES = [
    ("SC_rgb.dcm", "RGB native"),
    ("SC_rgb_expb.dcm", "RGB big endian"),
    ("SC_rgb_rle.dcm", "RGB RLE"),
    ("SC_rgb_jpeg_gdcm.dcm", "RGB JPEG lossless"),
    ("SC_rgb_gdcm_KY.dcm", "RGB JPEG 2000"),
    ("SC_rgb_jls_lossy_line.dcm", "RGB JPEG-LS near-lossless"),
    ("SC_rgb_jpeg_dcmtk.dcm", "YBR_FULL JPEG baseline"),
    ("SC_rgb_dcmtk_+eb+cy+n1.dcm", "YBR_FULL JPEG baseline"),
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", "YBR_FULL_422 JPEG baseline"),
    ("SC_rgb_dcmtk_+eb+cr.dcm", "RGB JPEG baseline"),
    ("SC_jpeg_no_color_transform.dcm", "RGB JPEG baseline, no colour transform"),
    ("SC_ybr_full_uncompressed.dcm", "YBR_FULL native"),
    ("SC_ybr_full_422_uncompressed.dcm", "YBR_FULL_422 native (subsampled)"),
    ("SC_rgb_16bit.dcm", "RGB 16-bit"),
    ("SC_rgb_32bit.dcm", "RGB 32-bit"),
    ("color-px.dcm", "RGB planar configuration 0"),
    ("color-pl.dcm", "RGB planar configuration 1"),
    ("US1_J2KR.dcm", "YBR_RCT JPEG 2000 lossless"),
    ("US1_J2KI.dcm", "YBR_ICT JPEG 2000 lossy"),
    ("ExplVR_BigEnd.dcm", "RGB big endian, planar 1"),
]


@pytest.mark.parametrize(("name", "why"), RGB_FILES, ids=[f for f, _ in RGB_FILES])
def test_colour_matches_pydicom_reference(name: str, why: str) -> None:
    ds = read(name)
    result = render_png(data_path(name))
    assert result.mode == "RGB" and result.window_used is None
    out = decode_png(result.png)
    expected = reference_rgb(ds)
    if (result.height, result.width) != expected.shape[:2]:  # non-square pixels
        expected = np.asarray(
            Image.fromarray(expected).resize((result.width, result.height), Image.BILINEAR)
        )
    assert_close(out, expected)


def test_ybr_decoded_by_pydicom_is_not_converted_twice() -> None:
    # pydicom converts YBR_FULL_422 JPEG to RGB while decoding; the engine must not
    # convert again: compare with dcmtk's own decompression of the same file.
    jpeg = render_array(data_path("SC_rgb_dcmtk_+eb+cy+np.dcm"))
    dcmtk = pixel_array(data_path("SC_rgb_dcmtk_ebcynp_dcmd.dcm"))
    assert read("SC_rgb_dcmtk_ebcynp_dcmd.dcm").PhotometricInterpretation == "RGB"
    assert np.abs(jpeg.astype(int) - dcmtk.astype(int)).mean() < 2
    # the uncompressed original of the test pattern: colours agree
    original = pixel_array(data_path("SC_rgb.dcm"))
    assert np.abs(jpeg.astype(int) - original.astype(int)).mean() < 4


def test_ybr_full_native_equals_rgb_original() -> None:
    ybr = render_array(data_path("SC_ybr_full_uncompressed.dcm"))
    rgb = render_array(data_path("SC_rgb.dcm"))
    diff = np.abs(ybr.astype(int) - rgb.astype(int))
    assert diff.mean() < 1 and diff.max() <= 8  # 8-bit YCbCr quantisation only


def test_jpeg2000_colour_lossless_twin_is_identical() -> None:
    j2k = render_array(data_path("US1_J2KR.dcm"))
    raw = render_array(data_path("US1_UNCR.dcm"))
    np.testing.assert_array_equal(j2k, raw)
    lossy = render_array(data_path("US1_J2KI.dcm"))
    assert np.abs(lossy.astype(int) - raw.astype(int)).mean() < 3


def test_planar_configurations_render_the_same() -> None:
    np.testing.assert_array_equal(
        render_array(data_path("color-pl.dcm")), render_array(data_path("color-px.dcm"))
    )


PALETTE_FILES = [
    ("OBXXXX1A.dcm", 0),
    ("OBXXXX1A_rle.dcm", 0),
    ("OBXXXX1A_2frame.dcm", 1),
    ("examples_palette.dcm", 0),
    ("gdcm-US-ALOKA-16.dcm", 0),  # 16-bit indices, segmented palette (C.7.9.2)
]


@pytest.mark.parametrize(("name", "frame"), PALETTE_FILES, ids=[f for f, _ in PALETTE_FILES])
def test_palette_colour_matches_pydicom_reference(name: str, frame: int) -> None:
    ds = read(name)
    result = render_png(data_path(name), RenderRequest(frame=frame))
    assert result.mode == "RGB"
    assert_close(decode_png(result.png), reference_palette(ds, frame))


@pytest.mark.parametrize(
    ("big", "little"),
    [("OBXXXX1A_expb.dcm", "OBXXXX1A.dcm"), ("gdcm-US-ALOKA-16_big.dcm", "gdcm-US-ALOKA-16.dcm")],
)
def test_big_endian_palettes_match_little_endian(big: str, little: str) -> None:
    # The OW palette data of a big endian file must be read big endian.
    np.testing.assert_array_equal(render_array(data_path(big)), render_array(data_path(little)))


# ------------------------------------------------------------- multi-frame


@pytest.mark.parametrize(
    "name",
    [
        "emri_small.dcm",
        "emri_small_big_endian.dcm",
        "emri_small_RLE.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ],
)
def test_frame_index_selects_that_frame(name: str) -> None:
    ds = read(name)
    window = Window(2000, 4000)
    frames = [render_array(ds, RenderRequest(frame=i, window=window)) for i in (0, 4, 9)]
    for index, out in zip((0, 4, 9), frames, strict=True):
        assert_close(out, reference_grey(read(name), index, window))
    assert not np.array_equal(frames[0], frames[1])
    assert render_png(ds, RenderRequest(frame=9)).frames == 10


def test_multiframe_colour_jpeg_frame() -> None:
    name = "color3d_jpeg_baseline.dcm"
    ds = read(name)
    out = render_array(ds, RenderRequest(frame=50))
    assert_close(out, reference_rgb(ds, 50))
    assert not np.array_equal(out, render_array(ds, RenderRequest(frame=0)))


def test_frame_out_of_range_is_an_input_error() -> None:
    with pytest.raises(DicomInputError, match="frame 10 does not exist"):
        render_png(data_path("emri_small.dcm"), RenderRequest(frame=10))
    with pytest.raises(DicomInputError, match="frame 1 does not exist"):
        render_png(data_path("CT_small.dcm"), RenderRequest(frame=1))


def test_only_the_requested_frame_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = render._decode

    def spy(decoder: Any, src: Any, frame: int, tsuid: Any, **opts: Any) -> Any:
        arr, pi = real(decoder, src, frame, tsuid, **opts)
        calls.append(arr.shape)
        return arr, pi

    monkeypatch.setattr(render, "_decode", spy)
    render_png(data_path("emri_small_jpeg_2k_lossless.dcm"), RenderRequest(frame=3))
    assert calls == [(64, 64)]


@pytest.mark.parametrize(
    "name",
    ["emri_small_big_endian.dcm", "emri_small_jpeg_2k_lossless.dcm", "image_dfl.dcm"],
)
def test_large_file_streaming_path_matches(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    path = data_path(name)
    frame = 2 if "emri" in name else 0
    expected = render_array(Path(path).read_bytes(), RenderRequest(frame=frame))
    monkeypatch.setattr(render, "STREAM_THRESHOLD", 0)
    np.testing.assert_array_equal(render_array(path, RenderRequest(frame=frame)), expected)
    with open(path, "rb") as fp:
        np.testing.assert_array_equal(render_array(fp, RenderRequest(frame=frame)), expected)


def test_sources_bytes_path_fileobj_dataset_agree() -> None:
    path = data_path("MR_small_RLE.dcm")
    raw = Path(path).read_bytes()
    expected = render_array(raw)
    np.testing.assert_array_equal(render_array(path), expected)
    np.testing.assert_array_equal(render_array(Path(path)), expected)
    np.testing.assert_array_equal(render_array(io.BytesIO(raw)), expected)
    np.testing.assert_array_equal(render_array(pydicom.dcmread(path)), expected)


# -------------------------------------------------- enhanced objects, floats


def test_enhanced_ct_uses_per_frame_functional_groups() -> None:
    ds = read("eCT_Supplemental.dcm")
    assert "WindowCenter" not in ds and "RescaleIntercept" not in ds
    result = render_png(ds, RenderRequest(frame=1))
    # this file puts them in the shared functional groups (PS3.3 C.7.6.16.1.1)
    shared = ds.SharedFunctionalGroupsSequence[0]
    voi = shared.FrameVOILUTSequence[0]
    expected_window = Window(float(voi.WindowCenter), float(voi.WindowWidth))
    assert result.window_used == expected_window
    ref = read("eCT_Supplemental.dcm")
    pvt = shared.PixelValueTransformationSequence[0]
    ref.RescaleSlope, ref.RescaleIntercept = pvt.RescaleSlope, pvt.RescaleIntercept
    assert float(pvt.RescaleIntercept) == -1024
    assert_close(decode_png(result.png), reference_grey(ref, 1, expected_window))


def test_float_parametric_maps_render() -> None:
    for name in ("parametric_map_float.dcm", "parametric_map_double_float.dcm"):
        path = shared_path("pydicom-data-git", name)
        ds = pydicom.dcmread(path)
        result = render_png(path)
        # the file's Frame VOI LUT (0.5/1.0 LINEAR) is honoured, per C.11.2.1.2
        assert result.window_used == Window(0.5, 1.0)
        assert_close(decode_png(result.png), reference_grey(ds, 0, result.window_used))
        auto = render_png(path, RenderRequest(preset="auto"))
        pixels = decode_png(auto.png)
        assert auto.window_used is not None and auto.window_used.width < 1.5
        assert pixels.std() > 20 and len(np.unique(pixels)) > 50
        assert_close(pixels, reference_grey(pydicom.dcmread(path), 0, auto.window_used))


def test_one_bit_segmentation_renders_binary() -> None:
    out = render_array(data_path("liver.dcm"), RenderRequest(frame=1))
    values = set(np.unique(out).tolist())
    assert values == {0, 255}
    arr = pixel_array(data_path("liver.dcm"), index=1)
    np.testing.assert_array_equal(out == 255, arr == 1)


# -------------------------------------------------------------- auto window


def test_ct_without_window_is_not_nearly_black() -> None:
    path = shared_path("dcm_qa_ct", "GE", "14.dcm")
    ds = pydicom.dcmread(path)
    del ds.WindowCenter, ds.WindowWidth
    result = render_png(ds)
    out = decode_png(result.png)
    assert result.window_used is not None
    assert 25 < out.mean() < 200 and out.std() > 30
    # the head (not air) is visible: over a third of the pixels are clearly above black
    assert (out > 40).mean() > 0.33
    # padding (-1500 outside the reconstruction circle) does not stretch the window
    lo = result.window_used.center - result.window_used.width / 2
    assert lo > -1100


def test_auto_window_ignores_pixel_padding() -> None:
    ds = read("CT_small.dcm")
    arr = pixel_array(ds).copy()
    arr[:10] = -3000  # stored padding well below air
    ds.PixelData = arr.tobytes()
    ds.PixelPaddingValue = -3000
    with_padding = render_png(ds).window_used
    plain = render_png(read("CT_small.dcm")).window_used
    assert with_padding is not None and plain is not None
    assert abs(with_padding.center - plain.center) < 60


def test_default_window_public_helper() -> None:
    ds = read("CT_small.dcm")
    window = render.default_window(ds, pixel_array(ds))
    assert window == render_png(ds).window_used
    mr = read("MR_small.dcm")
    assert render.default_window(mr, pixel_array(mr)) == Window(600, 1600)


# ------------------------------------------------------------------ geometry


def test_non_square_pixel_spacing_keeps_physical_aspect() -> None:
    ds = read("6293")
    row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
    result = render_png(ds)
    assert result.height == ds.Rows
    assert result.width == round(ds.Columns * col_mm / row_mm)
    assert decode_png(result.png).shape == (result.height, result.width)


def test_pixel_aspect_ratio_keeps_physical_aspect() -> None:
    ds = read("color-pl.dcm")
    assert [int(v) for v in ds.PixelAspectRatio] == [4, 3]  # vertical : horizontal
    result = render_png(ds)
    assert (result.width, result.height) == (ds.Columns, round(ds.Rows * 4 / 3))


def test_thumbnail_size_limits_the_longer_edge() -> None:
    result = render_png(data_path("US1_UNCR.dcm"), RenderRequest(size=128))
    assert (result.width, result.height) == (128, 96)
    assert decode_png(result.png).shape == (96, 128, 3)
    small = render_png(data_path("MR_small.dcm"), RenderRequest(size=1000))
    assert (small.width, small.height) == (64, 64)  # never enlarged


# --------------------------------------------------- shared real-world files


def test_real_ge_ct_slice_matches_reference() -> None:
    path = shared_path("dcm_qa_ct", "GE", "14.dcm")
    result = render_png(path)
    assert (result.width, result.height, result.mode) == (512, 512, "L")
    assert result.window_used == Window(35, 100)
    assert_close(decode_png(result.png), reference_grey(pydicom.dcmread(path)))


@pytest.mark.parametrize(
    "name",
    ["JLSL_RGB_ILV0.dcm", "JLSL_RGB_ILV1.dcm", "JLSL_RGB_ILV2.dcm", "JLSN_RGB_ILV0.dcm"],
)
def test_jpeg_ls_rgb_interleave_modes(name: str) -> None:
    path = shared_path("pydicom-data-git", name)
    out = render_array(path)
    assert out.shape == (256, 256, 3)
    assert_close(out, reference_rgb(pydicom.dcmread(path, force=True)))
    if name.startswith("JLSL"):
        base = render_array(shared_path("pydicom-data-git", "JLSL_RGB_ILV0.dcm"))
        np.testing.assert_array_equal(out, base)


@pytest.mark.parametrize("name", ["JLSL_08_07_0_1F.dcm", "JLSL_16_15_1_1F.dcm"])
def test_jpeg_ls_greyscale_odd_bit_depths(name: str) -> None:
    path = shared_path("pydicom-data-git", name)
    result = render_png(path)
    expected = reference_grey(pydicom.dcmread(path, force=True), 0, result.window_used)
    assert_close(decode_png(result.png), expected)


@pytest.mark.parametrize("name", ["HTJ2KLossless_08_RGB.dcm", "HTJ2K_08_RGB.dcm"])
def test_htj2k(name: str) -> None:
    path = shared_path("pydicom-data-git", name)
    ds = pydicom.dcmread(path, force=True)
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    if not decoder.is_available:
        pytest.skip(f"no HTJ2K decoder installed: {decoder.missing_dependencies}")
    out = render_array(path)
    assert out.shape == (480, 640, 3)
    assert_close(out, reference_rgb(ds))


@pytest.mark.parametrize("stem", ["liver", "liver_nonbyte_aligned"])
def test_shared_segmentations_in_all_syntaxes_agree(stem: str) -> None:
    # includes Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, PS3.5 A.4.11)
    base_path = SHARED / "pydicom-data-git" / f"{stem}.dcm"
    base = render_array(
        base_path if base_path.exists() else data_path(f"{stem}.dcm"), RenderRequest(frame=2)
    )
    assert set(np.unique(base).tolist()) == {0, 255}
    for suffix in ("deflate", "j2k"):
        path = shared_path("pydicom-data-git", f"{stem}_{suffix}.dcm")
        out = render_array(path, RenderRequest(frame=2))
        np.testing.assert_array_equal(out, base)
    # pydicom 3.0.2 cannot decode RLE with 1 bit allocated: a clean input error
    with pytest.raises(DicomInputError, match="RLE Lossless"):
        render_array(shared_path("pydicom-data-git", f"{stem}_rle.dcm"))


# ------------------------------------------------------------------- info


def test_image_info_summary() -> None:
    info = image_info(data_path("CT_small.dcm"))
    assert info["modality"] == "CT"
    assert (info["rows"], info["columns"], info["frames"]) == (128, 128, 1)
    assert info["transfer_syntax_uid"] == "1.2.840.10008.1.2.1"
    assert info["transfer_syntax_name"] == "Explicit VR Little Endian"
    assert info["photometric_interpretation"] == "MONOCHROME2"
    assert (info["bits_allocated"], info["bits_stored"], info["pixel_representation"]) == (
        16,
        16,
        1,
    )
    assert info["default_window"] is None
    assert info["pixel_spacing"] == pytest.approx([0.661468, 0.661468])
    assert "lung" in info["presets"]
    assert info["pixel_data"] == "PixelData"
    mr = image_info(Path(data_path("MR_small.dcm")).read_bytes())
    assert mr["default_window"] == {"center": 600.0, "width": 1600.0, "function": "LINEAR"}
    assert mr["presets"] == ["auto"]
    multi = image_info(pydicom.dcmread(data_path("emri_small_jpeg_2k_lossless.dcm")))
    assert multi["frames"] == 10 and multi["compressed"] is True


def test_image_info_is_json_and_has_no_patient_data() -> None:
    import json

    ds = read("CT_small.dcm")
    text = json.dumps(image_info(data_path("CT_small.dcm")))
    assert str(ds.PatientName) not in text
    assert str(ds.PatientID) not in text


def test_no_pixel_data_is_an_input_error() -> None:
    with pytest.raises(DicomInputError, match="no pixel data"):
        render_png(data_path("rtplan.dcm"))
    assert image_info(data_path("rtplan.dcm"))["pixel_data"] is None


def test_not_dicom_is_an_input_error() -> None:
    with pytest.raises(DicomInputError, match="not a DICOM file"):
        render_png(b"this is not a DICOM file at all" * 10)
    with pytest.raises(DicomInputError, match="not a DICOM file"):
        image_info(b"hello world, plain text\n" * 40)
    with pytest.raises(DicomInputError):
        render_png(b"")


# ------------------------------------------------------------ synthetic cases


def _synthetic(pixels: bytes, rows: int, columns: int, **attrs: Any) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = attrs.pop("syntax", ExplicitVRLittleEndian)
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.PixelData = pixels
    return ds


def test_signed_12_bit_in_16_bits_is_sign_extended() -> None:
    # two's complement 12-bit values with the unused high bits left at zero
    stored = np.array([0x0FFB, 0x0005, 0x0800, 0x07FF], "<u2").tobytes()
    ds = _synthetic(stored, 1, 4, BitsStored=12, HighBit=11, PixelRepresentation=1)
    out = render_array(ds, RenderRequest(window=Window(0, 4096)))
    # -5, 5, -2048, 2047 through a 4096-wide window centred on 0
    np.testing.assert_array_equal(out, [[127, 128, 0, 255]])


def test_jpeg_baseline_greyscale() -> None:
    # A greyscale JPEG baseline (process 1) frame made with Pillow and encapsulated.
    rng = np.random.default_rng(3)
    ramp = np.add.outer(np.arange(48), np.arange(64)).astype(np.uint8) * 2
    image = np.clip(ramp + rng.integers(0, 8, ramp.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    ds = _synthetic(
        encapsulate([buffer.getvalue()]),
        48,
        64,
        syntax=JPEGBaseline8Bit,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
    )
    ds["PixelData"].VR = "OB"
    result = render_png(ds)
    assert result.mode == "L" and (result.width, result.height) == (64, 48)
    # identity-like window: the output equals Pillow's own decoding of the JPEG
    out = render_array(ds, RenderRequest(window=Window(127.5, 256, "LINEAR_EXACT")))
    with Image.open(io.BytesIO(buffer.getvalue())) as jpeg:
        expected = np.asarray(jpeg)
    assert_close(out, expected)
