"""Burn text into real DICOM images (for the burned-in text tests and the bench).

The text is drawn with Pillow in "white as displayed" for the file's photometric
interpretation, into every frame, and the file is written back in its own transfer
syntax: native as it was; RLE and JPEG 2000 lossless with pydicom's encoders; JPEG
baseline frames encoded by Pillow (real JPEG, YCbCr 4:2:2 as the source) and
encapsulated.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, RLELossless

from tests.dicom.conftest import sample_bytes

#: Header values the burned-in text repeats (set in every burned file).
NAME, PATIENT_ID, BIRTH_DATE = "DOE^JOHN", "4711-0815", "19710305"
#: (text, identifying) drawn by default: a name, an ID, a birth date, and labels.
LABELS = [
    ("DOE^JOHN", True),
    ("ID 4711-0815", True),
    ("DOB 05/03/1971", True),
    ("C5-1", False),
    ("ABD", False),
]


@dataclass
class Burned:
    data: bytes
    #: where each text was drawn: (text, identifying, x, y, w, h) in pixels
    placed: list[tuple[str, bool, int, int, int, int]]


def _white(ds: Dataset, frame: np.ndarray) -> object:
    pi = str(ds.PhotometricInterpretation)
    if pi == "MONOCHROME2":
        return (
            int((1 << int(ds.BitsStored)) - 1)
            if int(ds.PixelRepresentation) == 0
            else int((1 << (int(ds.BitsStored) - 1)) - 1)
        )
    if pi == "MONOCHROME1":
        return int(frame.min())
    if pi == "PALETTE COLOR":
        values = np.arange(256, dtype=np.uint8)
        return int(np.argmax(apply_color_lut(values, ds).astype(np.int64).sum(axis=-1)))
    if pi.startswith("YBR"):
        return (255, 128, 128)
    return (255, 255, 255)


def _draw_mask(
    shape: tuple[int, int], texts: list[tuple[str, int, int]], size: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=size)
    boxes = []
    for text, x, y in texts:
        draw.text((x, y), text, fill=255, font=font)
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        boxes.append((int(left), int(top), int(right - left), int(bottom - top)))
    return np.asarray(canvas) > 100, boxes


def burn(
    name: str,
    positions: list[tuple[int, int]] | None = None,
    labels: list[tuple[str, bool]] | None = None,
    size: int | None = None,
) -> Burned:
    """``name`` (a pydicom test file) with ``labels`` drawn at ``positions`` (x, y) in
    every frame, and the header's name, ID and birth date set to the drawn values. The
    text is as high as on a scanner's screen: 14 pixels, or a 40th of the rows."""
    labels = labels or LABELS
    ds = dcmread(io.BytesIO(sample_bytes(name)))
    rows, cols = int(ds.Rows), int(ds.Columns)
    size = size or max(14, rows // 40)
    if positions is None:
        positions = [(8, 8 + i * (size + 6)) for i in range(3)]
        positions += [(cols - 8 * size // 2 - 30, 8 + i * (size + 6)) for i in range(2)]
    mask, boxes = _draw_mask(
        (rows, cols), [(t, x, y) for (t, _), (x, y) in zip(labels, positions, strict=True)], size
    )
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, PATIENT_ID, BIRTH_DATE
    ds.BurnedInAnnotation = "YES"  # as a device that burns text in says
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax == JPEGBaseline8Bit:
        frames = pixel_array(ds, as_rgb=True)
        frames = frames if frames.ndim == 4 else frames[np.newaxis]
        encoded = []
        for frame in frames:
            frame = frame.copy()
            frame[mask] = (255, 255, 255)
            out = io.BytesIO()
            Image.fromarray(frame).save(out, "JPEG", quality=95, subsampling=1)
            encoded.append(out.getvalue())
        ds.PixelData = encapsulate(encoded)
        ds["PixelData"].is_undefined_length = True
        ds.PhotometricInterpretation = "YBR_FULL_422"
    else:
        compressed = syntax.is_compressed
        if compressed:
            ds.decompress(as_rgb=True, generate_instance_uid=False)
        arr = pixel_array(ds, raw=True).copy()
        frames = arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[np.newaxis]
        for frame in frames:
            frame[mask] = _white(ds, frame)
        arr = frames.reshape(arr.shape)
        if syntax in (RLELossless, JPEG2000Lossless):
            ds.compress(syntax, arr, generate_instance_uid=False)
        else:
            if int(ds.get("SamplesPerPixel", 1)) > 1 and int(ds.get("PlanarConfiguration", 0)):
                arr = np.moveaxis(arr, -1, -3)
            ds.PixelData = arr.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    placed = [(text, ident, *box) for (text, ident), box in zip(labels, boxes, strict=True)]
    return Burned(out.getvalue(), placed)
