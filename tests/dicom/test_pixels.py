"""Burned-in text (issue 20): OCR finds identifying words in real images with text burned
in, cleaning masks them in every frame and in every transfer syntax, nothing else changes,
and the output validates (dciodvfy)."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.pixels import pixel_array
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from tests.dicom.burn import burn
from uploads.dicom.clean import HOLD_RESIDUAL, deidentify_and_clean
from uploads.dicom.deidentify import deidentify_encoded
from uploads.dicom.pixels import (
    detect_text,
    display_frames,
    identifying_words,
    mask_dataset,
    ocr_available,
)

KEY = b"burned-in-text-tests"
ROOT = "2.25.1"
needs_ocr = pytest.mark.skipif(not ocr_available(), reason="tesseract is not installed")


def deid(data: bytes, **kw: object) -> Dataset:
    return deidentify_encoded(data, key=KEY, uid_root=ROOT)[2]


def cleaned(data: bytes, **kw: object):
    return deidentify_and_clean(data, key=KEY, uid_root=ROOT, **kw)  # type: ignore[arg-type]


def frames_of(ds: Dataset) -> np.ndarray:
    arr = pixel_array(ds, as_rgb=True)
    return arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[np.newaxis]


def outside_hashes(ds: Dataset, regions: list[dict[str, int]]) -> list[str]:
    """A hash per frame of the pixels outside ``regions``."""
    hashes = []
    for frame in frames_of(ds):
        frame = frame.astype(np.int64).copy()
        for r in regions:
            frame[r["y"] : r["y"] + r["h"], r["x"] : r["x"] + r["w"]] = -1
        hashes.append(hashlib.sha256(frame.tobytes()).hexdigest())
    return hashes


def found_words(ds: Dataset, words: list[str]) -> set[str]:
    return {b.text for _, f in display_frames(ds) for b in detect_text(f, words) if b.identifying}


def dciodvfy_errors(data: bytes, tmp_path: Path, name: str) -> set[str]:
    path = tmp_path / name
    path.write_bytes(data)
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return {line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")}


# -- words -----------------------------------------------------------------------------


def test_identifying_words_cover_names_ids_and_dates_in_common_forms() -> None:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^John^^Dr", "4711-0815", "19710305"
    words = identifying_words(ds)
    for expected in ("DOE", "JOHN", "4711-0815", "19710305", "05/03/1971", "05-03-1971",
                     "5 MAR 1971", "1971-03-05", "03/05/1971"):  # fmt: skip
        assert expected in words
    assert "DR" in words and all(len(w) >= 2 for w in words)


def test_matching_forgives_ocr_confusions_but_leaves_labels_alone() -> None:
    from uploads.dicom.words import Matcher

    m = Matcher(["DOE", "JOHNSTONE", "4711-0815", "5 MAR 1971", "BAPTIST MED CTR"])
    assert m.word("D0E") and m.word("J0HNST0NE") and m.word("JOHNST0NF")  # O/0, one typo
    assert m.word("DOE*JOHN") and m.word("ID:4711-0815") and m.word("471l-0815")
    assert m.word("DOESJOHNSTONE") and not m.word("DOESN")  # "^" misread, joined
    assert m.match(["DOB", "5", "Mar", "1971"]) == {1, 2, 3}
    for label in ("C5-1", "ABD", "MI=0.8", "cm", "PWR", "L", "1971"):
        assert not m.word(label), label


# -- masking (no OCR needed) -------------------------------------------------------------


REGION = {"x": 5, "y": 6, "w": 20, "h": 9}


@pytest.mark.parametrize(
    ("name", "fill"),
    [
        ("emri_small.dcm", "min"),  # MONOCHROME2, 10 frames
        ("RG1_UNCI.dcm", "max"),  # MONOCHROME1
        ("SC_rgb_rle_2frame.dcm", (0, 0, 0)),  # RGB, RLE, 2 frames
        ("SC_ybr_full_uncompressed.dcm", (0, 128, 128)),  # YBR_FULL native
        ("OBXXXX1A.dcm", "darkest"),  # PALETTE COLOR
    ],
)
def test_mask_fills_black_as_displayed_in_every_frame_and_nothing_else(
    name: str, fill: object, tmp_path: Path
) -> None:
    from tests.dicom.conftest import sample_bytes

    before = deid(sample_bytes(name))
    after = deid(sample_bytes(name))
    raw_before = pixel_array(before, raw=True)
    mask_dataset(after, [REGION])
    raw = pixel_array(after, raw=True)
    frames = raw if int(after.get("NumberOfFrames", 1) or 1) > 1 else raw[np.newaxis]
    old = raw_before if frames is raw else raw_before[np.newaxis]
    for frame, original in zip(frames, old, strict=True):
        box = frame[6:15, 5:25]
        if fill == "min":
            assert (box == original.min()).all()
        elif fill == "max":
            assert (box == original.max()).all()
        elif fill == "darkest":
            from pydicom.pixels import apply_color_lut

            assert len(np.unique(box)) == 1
            every = apply_color_lut(np.arange(256, dtype=np.uint8), after).astype(np.int64)
            assert every.sum(axis=-1)[int(box[0, 0])] == every.sum(axis=-1).min()
        else:
            assert (box == np.array(fill)).all()
        untouched = frame.astype(np.int64).copy()
        untouched[6:15, 5:25] = -1
        expected = original.astype(np.int64).copy()
        expected[6:15, 5:25] = -1
        assert (untouched == expected).all()
    assert after.BurnedInAnnotation == "NO"
    codes = [
        (i.CodeValue, i.CodingSchemeDesignator) for i in after.DeidentificationMethodCodeSequence
    ]
    assert codes.count(("113101", "DCM")) == 1
    mask_dataset(after, [REGION])  # twice: the code is not added twice
    values = [i.CodeValue for i in after.DeidentificationMethodCodeSequence]
    assert values.count("113101") == 1
    # everything else as the de-identification wrote it
    changed = {"PixelData", "BurnedInAnnotation", "DeidentificationMethodCodeSequence"}
    for elem in before:
        if elem.keyword not in changed and elem.keyword not in ("PlanarConfiguration",):
            assert after[elem.tag].value == elem.value, elem.keyword
    assert "BurnedInAnnotation" in after


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("SC_rgb_rle.dcm", RLELossless),  # lossless stays lossless (RLE)
        ("US1_J2KR.dcm", RLELossless),  # JPEG 2000 lossless -> RLE lossless
        ("SC_rgb_jpeg_dcmtk.dcm", RLELossless),  # JPEG baseline -> RLE (lossless from here)
        ("MR_small.dcm", ExplicitVRLittleEndian),  # native stays native
        ("MR_small_bigendian.dcm", ExplicitVRLittleEndian),  # 16-bit big endian (retired)
    ],
)
def test_mask_writes_compressed_pixels_back_losslessly(
    name: str, syntax: str, tmp_path: Path
) -> None:
    from tests.dicom.conftest import sample_bytes

    check_lossless_mask(sample_bytes(name), syntax, tmp_path)


@pytest.mark.parametrize(
    "name",
    [
        "HTJ2KLossless_08_RGB.dcm",  # HTJ2K lossless, RGB 640x480
        "HTJ2K_08_RGB.dcm",  # HTJ2K lossy
        "JLSL_16_15_1_1F.dcm",  # JPEG-LS lossless, 16-bit
    ],
)
def test_mask_of_newer_syntaxes_in_shared_data(name: str, shared_dir: Path, tmp_path: Path) -> None:
    check_lossless_mask((shared_dir / "dicom" / "pydicom-data-git" / name).read_bytes(),
                        RLELossless, tmp_path)  # fmt: skip


def check_lossless_mask(data: bytes, syntax: str, tmp_path: Path) -> None:
    """Masked and written in ``syntax``: the same instance, bit for bit outside the
    region, and no dciodvfy error that the unmasked output did not have."""
    ds = deid(data)
    reference = deid(data)
    mask_dataset(ds, [REGION])
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)  # as uploads/dicom/clean.py writes it
    again = dcmread(io.BytesIO(out.getvalue()))
    assert again.file_meta.TransferSyntaxUID == syntax
    assert again.SOPInstanceUID == ds.SOPInstanceUID  # not a new instance
    got = frames_of(again).astype(np.int64)
    want = frames_of(reference).astype(np.int64)
    got[:, 6:15, 5:25] = want[:, 6:15, 5:25] = 0
    assert (got == want).all()  # bit for bit outside the region
    if shutil.which("dciodvfy"):
        before = io.BytesIO()
        reference.save_as(before, enforce_file_format=True)
        old = dciodvfy_errors(before.getvalue(), tmp_path, "before.dcm")
        assert dciodvfy_errors(out.getvalue(), tmp_path, "after.dcm") - old == set()


def test_mask_ignores_regions_outside_the_image() -> None:
    from tests.dicom.conftest import sample_bytes

    ds = deid(sample_bytes("MR_small.dcm"))
    data = ds.PixelData
    mask_dataset(ds, [{"x": 500, "y": 500, "w": 10, "h": 10}])
    assert ds.PixelData == data and "BurnedInAnnotation" not in ds


# -- detection and cleaning on real images with burned-in text ---------------------------


CASES = [
    "US1_UNCR.dcm",  # ultrasound, RGB, native
    "US1_J2KR.dcm",  # ultrasound, JPEG 2000 lossless (YBR_RCT)
    "OBXXXX1A.dcm",  # ultrasound, PALETTE COLOR
    "MR2_J2KR.dcm",  # MONOCHROME2 16-bit, JPEG 2000 lossless, 1024x1024
    "RG1_UNCI.dcm",  # MONOCHROME1 radiograph, 1955x1841
]


#: Where the text goes when the top corners already carry the scanner's own text.
POSITIONS = {"OBXXXX1A.dcm": [(20, 540), (20, 560), (20, 580), (640, 540), (640, 560)]}


@needs_ocr
@pytest.mark.parametrize("name", CASES)
def test_cleaning_removes_every_identifying_word_and_only_there(name: str, tmp_path: Path) -> None:
    burned = burn(name, POSITIONS.get(name))
    original = deid(burned.data)
    words = identifying_words(dcmread(io.BytesIO(burned.data), stop_before_pixels=True))
    seen = found_words(original, words)
    assert seen, "OCR should read the burned-in name, ID or birth date"
    result = cleaned(burned.data, regions=[])
    assert result.cleaning is not None and result.cleaning.masked
    out = dcmread(io.BytesIO(result.data))
    assert found_words(out, words) == set()
    assert result.cleaning.residual == [] and result.hold != HOLD_RESIDUAL
    # pixels outside the masks: unchanged, frame by frame
    regions = result.cleaning.regions
    assert outside_hashes(out, regions) == outside_hashes(original, regions)
    # the labels are not identifying: not masked
    for text, identifying, x, y, w, h in burned.placed:
        if not identifying:
            assert not any(
                r["x"] < x + w and x < r["x"] + r["w"] and r["y"] < y + h and y < r["y"] + r["h"]
                for r in regions
            ), text
    assert out.BurnedInAnnotation == "NO"
    assert "113101" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    if shutil.which("dciodvfy"):
        before = dciodvfy_errors(deidentify_encoded(burned.data, key=KEY, uid_root=ROOT)[0],
                                 tmp_path, "before.dcm")  # fmt: skip
        assert dciodvfy_errors(result.data, tmp_path, "after.dcm") - before == set()


@needs_ocr
def test_every_frame_of_a_cine_is_cleaned() -> None:
    """A 30-frame ultrasound cine in JPEG baseline (Presidio fails on multi-frame)."""
    burned = burn("examples_ybr_color.dcm", size=13)
    words = identifying_words(dcmread(io.BytesIO(burned.data), stop_before_pixels=True))
    result = cleaned(burned.data)
    assert result.cleaning is not None and result.cleaning.masked
    out = dcmread(io.BytesIO(result.data))
    assert int(out.NumberOfFrames) == 30 and out.file_meta.TransferSyntaxUID == RLELossless
    frames = frames_of(out)
    assert len(frames) == 30
    for frame in frames:  # every frame, not only those OCR read
        for r in result.cleaning.regions:
            assert frame[r["y"] : r["y"] + r["h"], r["x"] : r["x"] + r["w"]].max() == 0
    assert found_words(out, words) == set()
    assert outside_hashes(out, result.cleaning.regions) == outside_hashes(
        deid(burned.data), result.cleaning.regions
    )


@needs_ocr
def test_real_institution_name_in_a_real_ultrasound_is_found() -> None:
    """US1 carries its institution ("BAPTIST MED CTR") burned in by the scanner."""
    from tests.dicom.conftest import sample_bytes

    result = cleaned(sample_bytes("US1_UNCR.dcm"))
    assert result.cleaning is not None
    assert {"BAPTIST", "MED", "CTR"} <= {b.text for b in result.cleaning.identifying}


# -- the command line ------------------------------------------------------------------


@needs_ocr
def test_cli_clean_pixels_and_mask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from uploads.dicom import cli_deidentify

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "us.dcm").write_bytes(burn("US1_UNCR.dcm").data)
    argv = ["--key", "k", "--out", str(tmp_path / "out"), str(tmp_path / "in")]
    code = cli_deidentify.main([*argv, "--clean-pixels", "--mask", "600,440,40,40"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and "pixels cleaned" in lines[0], lines
    (written,) = (tmp_path / "out").rglob("*.dcm")
    ds = dcmread(written)
    assert ds.BurnedInAnnotation == "NO"
    assert frames_of(ds)[0, 440:480, 600:640].max() == 0  # the region asked for


def test_cli_mask_alone_needs_no_ocr_and_bad_regions_are_refused_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.dicom.conftest import sample_bytes
    from uploads.dicom import cli_deidentify

    (tmp_path / "mr.dcm").write_bytes(sample_bytes("MR_small.dcm"))
    argv = ["--key", "k", "--out", str(tmp_path / "out"), str(tmp_path / "mr.dcm")]
    assert cli_deidentify.main([*argv, "--mask", "0,0,10,5"]) == 0
    (written,) = (tmp_path / "out").rglob("*.dcm")
    ds = dcmread(written)
    assert (pixel_array(ds)[0:5, 0:10] == pixel_array(ds).min()).all()
    assert "needs pixel review" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli_deidentify.main([*argv, "--mask", "1,2,three,4"])
    assert exit_info.value.code == 2
    assert "four whole numbers" in capsys.readouterr().err


@needs_ocr
def test_a_browser_cleaned_file_is_read_again_and_held_when_a_date_is_left(tmp_path: Path) -> None:
    """The browser sends Burned In Annotation NO and code 113101 with a pseudonymised
    header: the server cannot match the patient's values, so dates and long numbers
    still readable hold the image; the code stays in the stored file."""
    from pydicom.dataset import Dataset as Item
    from pydicom.sequence import Sequence as Seq

    from uploads.dicom.clean import HOLD_SUSPECT

    places = [(20, 370), (20, 388), (20, 406), (560, 340), (560, 358)]
    ds = dcmread(io.BytesIO(burn("US1_UNCR.dcm", places).data))
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "ANON^X", "X1", ""
    ds.InstitutionName = ""
    ds.BurnedInAnnotation = "NO"
    code = Item()
    code.CodeValue, code.CodingSchemeDesignator = "113101", "DCM"
    code.CodeMeaning = "Clean Pixel Data Option"
    ds.DeidentificationMethodCodeSequence = Seq([code])
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    result = cleaned(out.getvalue())
    assert result.hold == HOLD_SUSPECT
    stored = dcmread(io.BytesIO(result.data))
    values = [i.CodeValue for i in stored.DeidentificationMethodCodeSequence]
    assert values.count("113101") == 1
