"""Region statistics and pixel probes in modality units, from the stored pixels.

The viewer's ellipse and rectangle regions and its pixel probe are answered here, from
the decoded frame with the Modality LUT applied (PS3.3 C.11.1: Rescale Slope (0028,1053)
and Rescale Intercept (0028,1052), or a Modality LUT Sequence), so that a CT region's
mean is in Hounsfield units whatever the PNG on screen shows.

Coordinates are the image's own pixel grid (PS3.3 C.7.6.3: Columns x Rows): x runs
along a row (column index), y down the columns (row index); the pixel (column i, row j)
covers ``[i, i + 1) x [j, j + 1)``, so its centre is ``(i + 0.5, j + 0.5)``. A pixel is
inside a region when its centre is. Area comes from Pixel Spacing (0028,0030: row
spacing, then column spacing, in mm; PS3.3 C.7.6.2.1.1) or, without it, in pixels.

Plain Python and numpy: no Django, no Celery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import Source, _is_ct, _load, _modality_lut, _pixel_spacing

#: Region shapes the statistics understand.
SHAPES = ("rectangle", "ellipse")


@dataclass(frozen=True)
class ModalityFrame:
    """One frame's values in modality units, with what is needed to measure on it."""

    values: np.ndarray  # float64, Rows x Columns
    spacing: tuple[float, float] | None  # (row spacing, column spacing) in mm
    unit: str  # "HU" for CT, else "" (stored values after the Modality LUT)


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the pixels whose centres lie inside a region."""

    pixels: int
    mean: float
    sd: float
    min: float
    max: float
    area: float
    area_unit: str  # "mm²" with Pixel Spacing, else "px"
    unit: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "pixels": self.pixels,
            "mean": self.mean,
            "sd": self.sd,
            "min": self.min,
            "max": self.max,
            "area": self.area,
            "area_unit": self.area_unit,
            "unit": self.unit,
        }


def modality_frame(source: Source, frame: int = 0) -> ModalityFrame:
    """Decode ``frame`` of a greyscale image and apply its Modality LUT (PS3.3 C.11.1).

    Raises
    ------
    DicomInputError
        No pixel data, a frame out of range, or a colour image (no modality values).
    """
    loaded = _load(source, frame)
    arr = loaded.arr
    if arr.ndim != 2:
        raise DicomInputError("a colour image has no values to measure")
    values = _modality_lut(loaded.ds, frame)(arr.astype(np.float64))
    unit = "HU" if _is_ct(loaded.ds) else ""
    return ModalityFrame(
        np.asarray(values, dtype=np.float64), _pixel_spacing(loaded.ds, frame), unit
    )


def _bounds(
    x0: float, y0: float, x1: float, y1: float, rows: int, cols: int
) -> tuple[int, int, int, int]:
    """Whole-pixel index ranges ``[c0, c1) x [r0, r1)`` whose centres may be inside."""
    left, right = sorted((x0, x1))
    top, bottom = sorted((y0, y1))
    c0 = max(0, math.ceil(left - 0.5))
    c1 = min(cols, math.floor(right - 0.5) + 1)
    r0 = max(0, math.ceil(top - 0.5))
    r1 = min(rows, math.floor(bottom - 0.5) + 1)
    return c0, max(c0, c1), r0, max(r0, r1)


def region_mask(
    shape: str, x0: float, y0: float, x1: float, y1: float, rows: int, cols: int
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The pixels of a rectangle or of the ellipse inscribed in it (corners ``(x0, y0)``
    and ``(x1, y1)`` in image coordinates), as a boolean mask over a window of the image.

    Returns
    -------
    mask, window
        ``values[window][mask]`` are the region's pixels.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown region shape {shape!r}")
    c0, c1, r0, r1 = _bounds(x0, y0, x1, y1, rows, cols)
    window = (slice(r0, r1), slice(c0, c1))
    if shape == "rectangle":
        return np.ones((r1 - r0, c1 - c0), dtype=bool), window
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ax, ay = abs(x1 - x0) / 2, abs(y1 - y0) / 2
    if ax == 0 or ay == 0:
        return np.zeros((r1 - r0, c1 - c0), dtype=bool), window
    xs = ((np.arange(c0, c1) + 0.5 - cx) / ax) ** 2
    ys = ((np.arange(r0, r1) + 0.5 - cy) / ay) ** 2
    return ys[:, None] + xs[None, :] <= 1.0, window


def roi_stats(
    frame: ModalityFrame, shape: str, x0: float, y0: float, x1: float, y1: float
) -> RoiStats:
    """Mean, standard deviation (population), minimum, maximum and area of a region.

    Raises
    ------
    ValueError
        An unknown shape, or a region with no pixel centre inside it.
    """
    rows, cols = frame.values.shape
    mask, window = region_mask(shape, x0, y0, x1, y1, rows, cols)
    # A rectangle is its whole window: no copy through a mask.
    picked = frame.values[window] if shape == "rectangle" else frame.values[window][mask]
    if picked.size == 0:
        raise ValueError("the region is too small: it holds no whole pixel")
    if frame.spacing is not None:
        area, area_unit = picked.size * frame.spacing[0] * frame.spacing[1], "mm²"
    else:
        area, area_unit = float(picked.size), "px"
    mean = float(picked.mean())
    return RoiStats(
        pixels=int(picked.size),
        mean=mean,
        sd=float(np.sqrt(np.mean(np.square(picked - mean)))),
        min=float(picked.min()),
        max=float(picked.max()),
        area=float(area),
        area_unit=area_unit,
        unit=frame.unit,
    )


def probe(frame: ModalityFrame, x: float, y: float) -> float:
    """The modality value of the pixel under the image point ``(x, y)``.

    Raises
    ------
    ValueError
        The point lies outside the image.
    """
    rows, cols = frame.values.shape
    col, row = math.floor(x), math.floor(y)
    if not (0 <= col < cols and 0 <= row < rows):
        raise ValueError("the point is outside the image")
    return float(frame.values[row, col])


def length(
    a: tuple[float, float], b: tuple[float, float], spacing: tuple[float, float] | None
) -> tuple[float, str]:
    """Distance between two image points: mm with Pixel Spacing (row, column spacing;
    PS3.3 C.7.6.2.1.1), else pixels."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    if spacing is None:
        return math.hypot(dx, dy), "px"
    return math.hypot(dx * spacing[1], dy * spacing[0]), "mm"


def angle(
    a: tuple[float, float],
    vertex: tuple[float, float],
    c: tuple[float, float],
    spacing: tuple[float, float] | None = None,
) -> float:
    """The angle at ``vertex`` between the rays to ``a`` and ``c``, in degrees (0–180),
    in patient space: non-square pixels (Pixel Spacing) are taken into account."""
    sx, sy = (spacing[1], spacing[0]) if spacing is not None else (1.0, 1.0)
    ux, uy = (a[0] - vertex[0]) * sx, (a[1] - vertex[1]) * sy
    vx, vy = (c[0] - vertex[0]) * sx, (c[1] - vertex[1]) * sy
    if (ux == 0 and uy == 0) or (vx == 0 and vy == 0):
        return 0.0
    return abs(math.degrees(math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)))
