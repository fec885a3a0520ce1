"""Burned-in text: find it in the pixels (OCR) and clean it (PS3.15 E.3.1).

PS3.15 E.3.1, Clean Pixel Data Option: identifying information burned in to the pixel
data is removed, and (PS3.15 E.1.1 item 6, Table CID 7050) the De-identification Method
Code Sequence (0012,0064) gains (113101, DCM, "Clean Pixel Data Option"); Burned In
Annotation (0028,0301, PS3.3 C.7.6.1.1.1.1... C.8.17.2) is then set to ``NO``.

* :func:`detect_text` reads one frame with Tesseract and marks the words that match the
  file's own identifying values (:mod:`uploads.dicom.words`).
* :func:`mask_dataset` fills regions ``{"x", "y", "w", "h"}`` (stored pixel coordinates,
  column x and row y from the top-left) in every frame with "black as displayed", and
  writes the pixels back losslessly (see :func:`mask_dataset`).
* :func:`fixed_regions` gives the regions known per manufacturer/model
  (``profile/burned_in_regions.json``).
* :func:`clean_dataset` ties them together for one de-identified data set.

Plain Python + numpy + Pillow + pydicom + pytesseract (which runs the ``tesseract``
program): no Django, no Celery.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEG2000MCLossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from uploads.dicom import constants
from uploads.dicom.words import Matcher, identifying_words

__all__ = [
    "CLEAN_PIXEL_CODE",
    "Cleaning",
    "TextBox",
    "add_clean_code",
    "clean_dataset",
    "detect_text",
    "display_frames",
    "fixed_regions",
    "identifying_words",
    "mask_dataset",
    "ocr_available",
]

#: PS3.16 CID 7050 De-identification Method: Clean Pixel Data Option (code value, scheme,
#: meaning), from the one definition both engines share (``constants.CLEAN_PIXEL_CODE``).
CLEAN_PIXEL_CODE = (constants.CLEAN_PIXEL_CODE[0], "DCM", constants.CLEAN_PIXEL_CODE[1])
#: Syntaxes whose pixels are kept exactly (PS3.5 Annex A, PS3.5 8.2): the masked pixels
#: of these are written back losslessly; anything else (JPEG baseline/extended, lossy
#: JPEG 2000, JPEG-LS near-lossless …) is written back lossless too (see mask_dataset).
LOSSLESS_SYNTAXES = frozenset(
    {
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired)
        RLELossless,
        JPEG2000MCLossless,
        JPEGLossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEG2000Lossless,
        HTJ2KLossless,
        HTJ2KLosslessRPCL,
    }
)
#: Words read with less confidence than this (Tesseract's 0-100) are ignored.
MIN_CONFIDENCE = 30.0
#: Frames shorter than this are enlarged 2x before OCR (small screen text reads better).
UPSCALE_BELOW = 1000
#: The second reading of a greyscale frame keeps only values at or above this (of 255).
BRIGHT = 245
#: A box is widened by this many pixels plus a tenth of its height on every side, so
#: anti-aliased edges of the letters are covered too.
PADDING = 2
_REGIONS_FILE = Path(__file__).with_name("profile") / "burned_in_regions.json"


@dataclass(frozen=True)
class TextBox:
    """A word found in a frame, in stored pixel coordinates, and whether it identifies."""

    x: int
    y: int
    w: int
    h: int
    text: str
    identifying: bool
    #: Which line of the reading the word is in (words of one line share it).
    line: int = 0

    def region(self, rows: int, cols: int) -> dict[str, int]:
        """The region to mask for this word: padded, inside a ``rows`` x ``cols`` frame."""
        pad = PADDING + self.h // 10
        x0, y0 = max(0, self.x - pad), max(0, self.y - pad)
        x1, y1 = min(cols, self.x + self.w + pad), min(rows, self.y + self.h + pad)
        return {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}


@dataclass
class Cleaning:
    """What :func:`clean_dataset` did to one data set.

    ``boxes``: words found in the frames read (before cleaning); ``regions``: what was
    masked (identifying words, fixed regions of the model, regions asked for);
    ``residual``: identifying words OCR still reads in the cleaned frames; ``frames_read``:
    how many frames were read; ``masked``: whether the pixels were changed.
    """

    boxes: list[TextBox] = field(default_factory=list)
    regions: list[dict[str, int]] = field(default_factory=list)
    residual: list[str] = field(default_factory=list)
    frames_read: int = 0
    masked: bool = False
    ocr: bool = True

    @property
    def identifying(self) -> list[TextBox]:
        return [b for b in self.boxes if b.identifying]

    def as_json(self) -> dict[str, Any]:
        """A summary to keep beside the stored file (the words themselves are left out:
        they are the patient's identifying values)."""
        return {
            "boxes": [
                {"x": b.x, "y": b.y, "w": b.w, "h": b.h, "identifying": b.identifying}
                for b in self.boxes
                if b.identifying or sum(c.isalnum() for c in b.text) >= 2  # not specks
            ],
            "regions": self.regions,
            "residual": len(self.residual),
            "frames_read": self.frames_read,
            "masked": self.masked,
            "ocr": self.ocr,
        }


# -- OCR ---------------------------------------------------------------------------------


@cache
def ocr_available() -> bool:
    """Whether pytesseract is installed and the ``tesseract`` program runs."""
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
    except Exception:
        return False
    return True


def _to_grey8(frame: np.ndarray) -> np.ndarray:
    """One frame as 8-bit luminance, full range (min-max window): the text of a screen is
    at the ends of the range, so no VOI window is needed to read it."""
    values = frame.astype(np.float32)
    if values.ndim == 3:  # RGB (ITU-R BT.601 luma)
        values = values[..., 0] * 0.299 + values[..., 1] * 0.587 + values[..., 2] * 0.114
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return ((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _prepare(grey: np.ndarray) -> tuple[Image.Image, int]:
    """Dark text on a light background (what Tesseract reads best), enlarged 2x when the
    frame is small. Returns the image and the scale."""
    if float(np.median(grey)) < 128:  # light text on a dark screen (ultrasound, fluoro)
        grey = 255 - grey
    image = Image.fromarray(grey)
    scale = 2 if min(grey.shape[:2]) < UPSCALE_BELOW else 1
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.BILINEAR)
    return image, scale


def detect_text(frame: np.ndarray, identifying: Sequence[str]) -> list[TextBox]:
    """The words Tesseract reads in ``frame`` (a 2-D greyscale or H x W x 3 RGB array of
    any integer or float type, as displayed: MONOCHROME1 inverted, palette applied) with
    their boxes in the frame's pixel coordinates, each marked ``identifying`` when it
    matches one of the ``identifying`` values (:class:`uploads.dicom.words.Matcher`).

    Preprocessing: min-max window to 8 bits, luminance, inverted when the screen is dark,
    2x enlarged below :data:`UPSCALE_BELOW` rows or columns; Tesseract page segmentation
    mode 11 (sparse text: screen annotations are scattered words, not paragraphs). A
    greyscale frame is read a second time with only its brightest values
    (:data:`BRIGHT`) as black on white: text burned in at full white over a mid-grey body
    (radiographs, MR) is lost in the first reading.
    """
    grey = _to_grey8(np.asarray(frame))
    if grey.size == 0 or grey.max() == grey.min():
        return []
    matcher = Matcher(identifying)
    boxes = _read(*_prepare(grey), matcher)
    if np.asarray(frame).ndim == 2:
        bright = np.where(grey >= BRIGHT, 0, 255).astype(np.uint8)
        seen = {(b.x, b.y, b.text) for b in boxes}
        first = max((b.line for b in boxes), default=-1) + 1
        boxes += [
            b for b in _read(*_prepare(bright), matcher, first) if (b.x, b.y, b.text) not in seen
        ]
    return boxes


def _read(image: Image.Image, scale: int, matcher: Matcher, first: int = 0) -> list[TextBox]:
    """One Tesseract reading of a prepared image; boxes back in frame coordinates, their
    lines numbered from ``first``."""
    import pytesseract

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one core per worker process
    data = pytesseract.image_to_data(
        image, config="--psm 11 -c tessedit_do_invert=0", output_type=pytesseract.Output.DICT
    )
    lines: dict[tuple[int, int, int], list[int]] = {}
    for i, text in enumerate(data["text"]):
        if text.strip() and float(data["conf"][i]) >= MIN_CONFIDENCE:
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            lines.setdefault(key, []).append(i)
    boxes: list[TextBox] = []
    for number, indexes in enumerate(lines.values(), start=first):
        words = [data["text"][i].strip() for i in indexes]
        hits = matcher.match(words)
        for n, i in enumerate(indexes):
            x, y = data["left"][i] // scale, data["top"][i] // scale
            w, h = -(-data["width"][i] // scale), -(-data["height"][i] // scale)
            boxes.append(TextBox(x, y, w, h, words[n], n in hits, number))
    return boxes


# -- frames ------------------------------------------------------------------------------


def _frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _sample(count: int, limit: int) -> list[int]:
    """Up to ``limit`` frame indexes spread evenly, first and last included."""
    if count <= limit:
        return list(range(count))
    if limit <= 1:
        return [0]
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def display_frames(ds: Dataset, limit: int = 4) -> list[tuple[int, np.ndarray]]:
    """Up to ``limit`` frames (index, array) as displayed for OCR: MONOCHROME1 inverted,
    PALETTE COLOR through its lookup table (PS3.3 C.7.6.3.1.5), YBR as RGB."""
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    frames = []
    for index in _sample(_frame_count(ds), limit):
        arr = pixel_array(ds, index=index, as_rgb=True)
        if photometric == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)
        elif photometric == "MONOCHROME1":
            arr = arr.max() - arr.astype(np.int64)
        frames.append((index, arr))
    return frames


# -- masking -----------------------------------------------------------------------------


def _darkest_index(ds: Dataset) -> int:
    """The stored value whose palette colour is darkest (PS3.3 C.7.6.3.1.5)."""
    descriptor = ds.RedPaletteColorLookupTableDescriptor
    entries = int(descriptor[0]) or 65536
    first = int(descriptor[1])
    values = np.arange(first, first + entries, dtype=np.int64)
    dtype = np.uint8 if int(ds.BitsAllocated) == 8 else np.uint16
    colours = apply_color_lut(values.clip(0, np.iinfo(dtype).max).astype(dtype), ds)
    return int(values[int(np.argmin(colours.astype(np.int64).sum(axis=-1)))])


def _fill(frame: np.ndarray, photometric: str, ds: Dataset) -> Any:
    """ "Black as displayed" for one frame of stored values (the shared contract)."""
    if photometric == "MONOCHROME1":
        return frame.max()
    if photometric == "MONOCHROME2":
        return frame.min()
    if photometric == "PALETTE COLOR":
        return _darkest_index(ds)
    if photometric.startswith("YBR"):
        return (0, 128, 128)
    return (0, 0, 0)  # RGB


def _clip(regions: Iterable[dict[str, int]], rows: int, cols: int) -> list[dict[str, int]]:
    clipped = []
    for r in regions:
        x0, y0 = max(0, int(r["x"])), max(0, int(r["y"]))
        x1, y1 = min(cols, int(r["x"]) + int(r["w"])), min(rows, int(r["y"]) + int(r["h"]))
        if x1 > x0 and y1 > y0:
            clipped.append({"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0})
    return clipped


def mask_dataset(ds: Dataset, regions: Sequence[dict[str, int]]) -> None:
    """Fill ``regions`` in every frame of ``ds`` with black as displayed, in place.

    Fill: MONOCHROME2 the frame's minimum stored value, MONOCHROME1 its maximum, RGB
    (0, 0, 0), YBR_FULL Y=0 Cb=Cr=128, PALETTE COLOR the index of the darkest colour.

    Transfer syntax: native pixels stay native in their syntax. Compressed pixels are
    decoded (YBR_FULL_422 and the JPEG 2000 YBR_ICT/RCT as RGB, PS3.5 8.2), masked and
    encoded again with RLE Lossless (PS3.5 A.4.2), or written as Explicit VR Little
    Endian when RLE cannot hold them; a lossy source keeps Lossy Image Compression
    (0028,2110) ``01`` (the masked pixels are not compressed lossily again).

    Then Burned In Annotation (0028,0301) is ``NO`` and De-identification Method Code
    Sequence (0012,0064) holds (113101, DCM, "Clean Pixel Data Option") once (PS3.15
    E.3.1). Nothing else changes. No region inside the image: nothing changes at all.
    """
    rows, cols = int(ds.Rows), int(ds.Columns)
    regions = _clip(regions, rows, cols)
    if not regions:
        return
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    if syntax.is_compressed:
        ds.decompress(as_rgb=True, generate_instance_uid=False)
    photometric = str(ds.PhotometricInterpretation).upper()
    if not syntax.is_compressed and photometric == "YBR_FULL_422":
        # native 4:2:2 cannot be written back sample for sample: store it as RGB
        arr = pixel_array(ds, as_rgb=True).copy()
        ds.PhotometricInterpretation = photometric = "RGB"
    else:
        arr = pixel_array(ds, raw=True).copy()
    frames = arr if _frame_count(ds) > 1 else arr[np.newaxis, ...]
    for frame in frames:
        value = _fill(frame, photometric, ds)
        for r in regions:
            frame[r["y"] : r["y"] + r["h"], r["x"] : r["x"] + r["w"]] = value
    _write_pixels(ds, frames.reshape(arr.shape), compress=syntax.is_compressed)
    ds.BurnedInAnnotation = "NO"
    add_clean_code(ds)


def _write_pixels(ds: Dataset, arr: np.ndarray, *, compress: bool) -> None:
    """Put ``arr`` back as Pixel Data: RLE Lossless when the source was compressed (and
    RLE can hold it), else native in the data set's syntax — little endian: a (retired)
    Explicit VR Big Endian file becomes Explicit VR Little Endian (PS3.5 A.2)."""
    if compress:
        try:
            ds.compress(RLELossless, arr, generate_instance_uid=False)
            return
        except Exception:  # noqa: S110 - e.g. no RLE encoder for these bits: stay native
            pass
    if int(ds.get("SamplesPerPixel", 1)) > 1 and int(ds.get("PlanarConfiguration", 0)) == 1:
        arr = np.moveaxis(arr, -1, -3)  # back to colour-by-plane order (PS3.3 C.7.6.3.1.3)
    if not UID(ds.file_meta.TransferSyntaxUID).is_little_endian:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) <= 8 else "OW"


def add_clean_code(ds: Dataset) -> None:
    """Add (113101, DCM, "Clean Pixel Data Option") to De-identification Method Code
    Sequence unless it is there (PS3.15 E.1.1 item 6, CID 7050)."""
    value, scheme, meaning = CLEAN_PIXEL_CODE
    items = list(ds.get("DeidentificationMethodCodeSequence", []) or [])
    if any(
        str(i.get("CodeValue", "")) == value and str(i.get("CodingSchemeDesignator", "")) == scheme
        for i in items
    ):
        return
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    ds.DeidentificationMethodCodeSequence = DicomSequence([*items, item])


# -- fixed regions -----------------------------------------------------------------------


@cache
def _region_table() -> list[dict[str, Any]]:
    return list(json.loads(_REGIONS_FILE.read_text(encoding="utf-8"))["models"])


def fixed_regions(ds: Dataset) -> list[dict[str, int]]:
    """The regions kept as data for the device that made ``ds`` (Manufacturer and
    Manufacturer's Model Name, case-insensitive prefix; Rows and Columns when the entry
    gives them), from ``profile/burned_in_regions.json``."""
    maker = str(ds.get("Manufacturer", "") or "").upper()
    model = str(ds.get("ManufacturerModelName", "") or "").upper()
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    found: list[dict[str, int]] = []
    for entry in _region_table():
        if not maker.startswith(entry["manufacturer"].upper()):
            continue
        if not model.startswith(entry.get("model", "").upper()):
            continue
        if entry.get("rows", rows) != rows or entry.get("columns", cols) != cols:
            continue
        found += [dict(r) for r in entry["regions"]]
    return found


# -- the whole step ----------------------------------------------------------------------


def clean_dataset(
    ds: Dataset,
    words: Sequence[str],
    *,
    regions: Sequence[dict[str, int]] = (),
    ocr: bool = True,
    frames: int = 4,
) -> Cleaning:
    """Detect identifying text in ``ds`` (already de-identified; ``words`` from
    :func:`identifying_words` of the original), mask it with the model's fixed regions and
    ``regions``, and read the cleaned frames again.

    OCR reads up to ``frames`` frames spread over a multi-frame image (burned-in text of
    a cine loop stays put); the union of the regions is masked in every frame.
    ``ocr=False`` (or no Tesseract) masks only the fixed and given regions.
    """
    result = Cleaning(ocr=ocr and ocr_available())
    rows, cols = int(ds.Rows), int(ds.Columns)
    if result.ocr:
        shown = display_frames(ds, frames)
        result.frames_read = len(shown)
        for _, frame in shown:
            result.boxes += detect_text(frame, words)
    wanted = [b.region(rows, cols) for b in result.identifying]
    wanted += fixed_regions(ds) + [dict(r) for r in regions]
    result.regions = _merge(_clip(wanted, rows, cols))
    if result.regions:
        mask_dataset(ds, result.regions)
        result.masked = True
    if result.ocr:
        for _, frame in display_frames(ds, frames):
            result.residual += [b.text for b in detect_text(frame, words) if b.identifying]
    return result


def _merge(regions: list[dict[str, int]]) -> list[dict[str, int]]:
    """Drop exact repeats (the same word found in several frames), keeping the order."""
    seen: dict[tuple[int, int, int, int], dict[str, int]] = {}
    for r in regions:
        seen.setdefault((r["x"], r["y"], r["w"], r["h"]), r)
    return list(seen.values())
