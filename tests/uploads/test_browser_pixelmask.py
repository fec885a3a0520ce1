"""The browser's pixel masking (frontend/src/pixelmask.js, run in Node through
frontend/tools/deid-node.mjs --mask) on real files of every photometric interpretation it
handles: inside each region every frame holds the contract's fill ("black as displayed"),
outside nothing changed; Burned In Annotation becomes NO and code 113101 is added only
when something was masked; a compressed file is left for the server."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.uploads.conftest import sample_bytes
from tests.uploads.test_deid_crosscheck import KEY, NODE, TOOL, read, write_profile
from uploads.dicom.deidentify import deidentify_bytes

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

Region = tuple[int, int, int, int]
REGIONS: list[Region] = [
    (3, 5, 20, 7),
    (40, 0, 30, 4),
]  # x, y, w, h (the second crosses the top edge)


def _variant(name: str, photometric: str | None = None) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(sample_bytes(name)))
    if photometric == "reversed palette":  # the darkest colour is the last index
        for colour in ("Red", "Green", "Blue"):
            element = ds[f"{colour}PaletteColorLookupTableData"]
            element.value = np.frombuffer(element.value, "<u2")[::-1].tobytes()
    elif photometric:
        ds.PhotometricInterpretation = photometric
    ds.BurnedInAnnotation = "YES"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


CASES = {
    "CT_small.dcm": ("CT_small.dcm", None),  # MONOCHROME2, 16-bit signed
    "ExplVR_BigEnd.dcm": ("ExplVR_BigEnd.dcm", None),  # big endian
    "monochrome1.dcm": ("CT_small.dcm", "MONOCHROME1"),
    "emri_small.dcm": ("emri_small.dcm", None),  # 10 frames
    "SC_rgb.dcm": ("SC_rgb.dcm", None),  # RGB, 8-bit
    "SC_rgb_2frame.dcm": ("SC_rgb_2frame.dcm", None),
    "ybr_full.dcm": ("SC_rgb.dcm", "YBR_FULL"),
    "OBXXXX1A.dcm": ("OBXXXX1A.dcm", None),  # PALETTE COLOR, 16-bit tables
    "OBXXXX1A_2frame.dcm": ("OBXXXX1A_2frame.dcm", None),
    "palette_reversed.dcm": ("OBXXXX1A.dcm", "reversed palette"),
    "OBXXXX1A_expb_2frame.dcm": ("OBXXXX1A_expb_2frame.dcm", None),  # big endian
    "US1_UNCR.dcm": ("US1_UNCR.dcm", None),  # a real ultrasound, RGB 640 x 480
}


def darkest_index(ds: Dataset) -> int:
    """The stored value whose palette colour has the smallest luminance (first of ties)."""
    count, first, bits = (int(v) for v in ds.RedPaletteColorLookupTableDescriptor)
    dtype = "<u2" if bits == 16 else "u1"
    red, green, blue = (
        np.frombuffer(ds[f"{c}PaletteColorLookupTableData"].value, dtype)[: count or 65536]
        for c in ("Red", "Green", "Blue")
    )
    luma = 0.299 * red.astype(float) + 0.587 * green + 0.114 * blue
    return first + int(np.argmin(luma))


def run_browser(paths: list[Path], out: Path, masks: list[Region]) -> list[dict[str, Any]]:
    args = [str(NODE), "--no-warnings", str(TOOL), "--profile", str(write_profile(out)),
            "--key", KEY.hex(), "--out", str(out / "files")]  # fmt: skip
    for mask in masks:
        args += ["--mask", ",".join(map(str, mask))]
    done = subprocess.run(
        [*args, *map(str, paths)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout)["files"])


def frames(ds: Dataset) -> np.ndarray:
    """Stored values as (frames, rows, columns[, samples]); YBR_FULL is not converted."""
    arr = ds.pixel_array if ds.PhotometricInterpretation != "YBR_FULL" else _raw_ybr(ds)
    return arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[np.newaxis]


def _raw_ybr(ds: Dataset) -> np.ndarray:
    from pydicom.pixels import pixel_array

    return np.asarray(pixel_array(ds, as_rgb=False))


def region_mask(shape: tuple[int, ...]) -> np.ndarray:
    inside = np.zeros(shape[1:3], dtype=bool)
    for x, y, w, h in REGIONS:
        inside[y : y + h, x : x + w] = True
    return inside


def codes(ds: Dataset) -> list[str]:
    return [str(item.CodeValue) for item in ds.DeidentificationMethodCodeSequence]


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Dataset, Dataset]]:
    folder = tmp_path_factory.mktemp("pixelmask")
    paths = []
    for label, (name, photometric) in CASES.items():
        paths.append(folder / label)
        paths[-1].write_bytes(_variant(name, photometric))
    results = run_browser(paths, folder / "out", REGIONS)
    out = []
    for path, result in zip(paths, results, strict=True):
        assert "error" not in result, result
        out.append((path.name, read(path.read_bytes()), read(Path(result["output"]).read_bytes())))
    return out


def test_every_frame_is_filled_inside_and_unchanged_outside(masked: list[Any]) -> None:
    for label, before, after in masked:
        old, new = frames(before), frames(after)
        inside = region_mask(old.shape)
        photometric = before.PhotometricInterpretation
        for index in range(old.shape[0]):
            frame, done = old[index], new[index]
            assert np.array_equal(done[~inside], frame[~inside]), (label, index)
            if photometric == "MONOCHROME2":
                fill: Any = frame.min()
            elif photometric == "MONOCHROME1":
                fill = frame.max()
            elif photometric == "PALETTE COLOR":
                fill = darkest_index(before)
            elif photometric == "YBR_FULL":
                fill = np.array([0, 128, 128])
            else:
                fill = np.array([0, 0, 0])
            assert (done[inside] == fill).all(), (label, index)
        assert after.BurnedInAnnotation == "NO", label
        assert codes(after)[-1] == "113101", label


def test_nothing_masked_without_regions_or_in_a_compressed_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.dcm"
    plain.write_bytes(_variant("CT_small.dcm"))
    compressed = tmp_path / "compressed.dcm"
    compressed.write_bytes(_variant("JPEG2000.dcm"))
    (result,) = run_browser([plain], tmp_path / "none", [])
    ds = read(Path(result["output"]).read_bytes())
    assert ds.BurnedInAnnotation == "YES" and "113101" not in codes(ds)
    assert np.array_equal(ds.pixel_array, read(plain.read_bytes()).pixel_array)
    segmented = tmp_path / "segmented.dcm"  # a real US whose palette is segmented
    segmented.write_bytes(_variant("gdcm-US-ALOKA-16.dcm"))
    results = run_browser([compressed, segmented], tmp_path / "left", REGIONS)
    why = ["the image is compressed", "this kind of image cannot be changed here"]
    for path, result, reason in zip((compressed, segmented), results, why, strict=True):
        ds = read(Path(result["output"]).read_bytes())
        assert result["report"]["regionsMasked"] == 0
        assert result["report"]["image"]["cannotMask"] == reason
        assert ds.BurnedInAnnotation == "YES" and "113101" not in codes(ds)
        assert ds.PixelData == read(path.read_bytes()).PixelData


def test_the_server_keeps_the_clean_pixel_code_of_a_file_the_browser_masked(
    masked: list[Any], tmp_path: Path
) -> None:
    """The server de-identifies what the browser sent once more: the code stays, and only
    where Burned In Annotation is NO as well. The browser engine does the same."""
    _, _, after = masked[0]
    data = io.BytesIO()
    after.save_as(data, enforce_file_format=True)
    again, _ = deidentify_bytes(data.getvalue(), key=KEY)
    assert codes(read(again))[-1] == "113101"
    (tmp_path / "sent.dcm").write_bytes(data.getvalue())
    (result,) = run_browser([tmp_path / "sent.dcm"], tmp_path / "again", [])
    assert codes(read(Path(result["output"]).read_bytes()))[-1] == "113101"
    after.BurnedInAnnotation = "YES"  # a claim the header contradicts: not carried over
    data = io.BytesIO()
    after.save_as(data, enforce_file_format=True)
    again, _ = deidentify_bytes(data.getvalue(), key=KEY)
    assert "113101" not in codes(read(again))


def test_fill_of_a_palette_is_its_darkest_colour(masked: list[Any]) -> None:
    fills = {label: darkest_index(before) for label, before, _ in masked if "palette" in label}
    assert fills == {"palette_reversed.dcm": 255}  # not simply index 0
