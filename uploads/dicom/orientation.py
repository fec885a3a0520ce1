"""Orientation markers of a displayed image (the letters at its edges).

The patient-based coordinate system is LPS: +x towards the patient's Left, +y Posterior,
+z Head (PS3.3 C.7.6.2.1.1). Image Orientation (Patient) (0020,0037) gives the direction
cosines of the first row (the direction of increasing column index: to the right on
screen) and of the first column (increasing row index: downwards). The letters of a
direction name its main components, strongest first, as in Patient Orientation
(0020,0020; PS3.3 C.7.6.1.1.1).

Plain Python: no Django, no Celery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: A component weaker than this (a cosine) is left out of the letters.
OBLIQUE = 0.3
_LETTERS = (("L", "R"), ("P", "A"), ("H", "F"))


def letters(direction: Sequence[float]) -> str:
    """The letters of one direction (LPS), e.g. ``(1, 0, 0) -> "L"``,
    ``(0.7, 0.7, 0) -> "LP"``; up to three, strongest first."""
    parts = sorted(
        (
            (abs(c), pair[0] if c > 0 else pair[1])
            for c, pair in zip(direction, _LETTERS, strict=True)
        ),
        reverse=True,
    )
    return "".join(letter for size, letter in parts if size >= OBLIQUE)


def edge_labels(orientation: Sequence[float]) -> dict[str, str]:
    """The letters at the left, right, top and bottom edges of the image as displayed.

    Parameters
    ----------
    orientation
        Image Orientation (Patient): six direction cosines, row then column.
    """
    row, col = list(orientation[:3]), list(orientation[3:6])
    return {
        "right": letters(row),
        "left": letters([-c for c in row]),
        "bottom": letters(col),
        "top": letters([-c for c in col]),
    }


def image_orientation(ds: Any, frame: int = 0) -> list[float] | None:
    """Image Orientation (Patient) of ``frame``: from the frame's Plane Orientation
    functional group (PS3.3 C.7.6.16.2.4) in an enhanced image, else the attribute."""
    from uploads.dicom.render import _functional_item

    item = _functional_item(ds, frame, "PlaneOrientationSequence")
    value = (item.get("ImageOrientationPatient") if item is not None else None) or ds.get(
        "ImageOrientationPatient"
    )
    try:
        cosines = [float(v) for v in value] if value is not None else []
    except (TypeError, ValueError):
        return None
    return cosines if len(cosines) == 6 else None


def pixel_spacing(ds: Any, frame: int = 0) -> list[float] | None:
    """Pixel Spacing of ``frame`` as [row spacing, column spacing] in mm (PS3.3
    C.7.6.2.1.1; the Pixel Measures functional group of an enhanced image, C.7.6.16.2.1)."""
    from uploads.dicom.render import _pixel_spacing

    spacing = _pixel_spacing(ds, frame)
    return list(spacing) if spacing is not None else None
