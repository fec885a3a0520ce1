"""Multiplanar reformat: axial, coronal and sagittal planes of a series volume.

Each plane is a slab of voxels perpendicular to one volume axis, shown the way
radiologists read it (the conventions of the standard's display orientation, PS3.3
C.7.6.1.1.1 Patient Orientation, with the patient in LPS coordinates, C.7.6.2.1.1):

===========  ===========================  ==========================
plane        screen right is the patient's  screen down is the patient's
===========  ===========================  ==========================
axial        left (+x)                    posterior (+y)
coronal      left (+x)                    inferior (-z)
sagittal     posterior (+y)               inferior (-z)
===========  ===========================  ==========================

The volume axis (i, j or k) closest to each screen direction is chosen (no oblique
resampling), flipped when it points the other way: a sagittal MR series gets its
"axial" plane from its rows, and so on. A plane's pixels are made square from the voxel
spacing (a 0.5 mm × 1.25 mm coronal grid is stretched vertically), windowed with the
slice viewer's table (:func:`uploads.dicom.render.window_values`) and written with the
same PNG writer. A thick slab is a maximum intensity projection over `slab` planes
centred on the index.

No Django, no Celery: plain Python + numpy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from uploads.dicom.png import encode_png
from uploads.dicom.render import Window, window_values
from uploads.dicom.volume import Volume

__all__ = ["MAX_SLAB", "PLANES", "PlaneLayout", "plane_layout", "plane_values", "render_plane"]

#: Screen right and screen down of each plane, in LPS.
_SCREEN: Final = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}
PLANES: Final = tuple(_SCREEN)
#: Thickest maximum intensity projection, in planes.
MAX_SLAB: Final = 99
#: Volume axis (i, j, k) → axis of ``Volume.data`` ([k, j, i]).
_DATA_AXIS: Final = {0: 2, 1: 1, 2: 0}


@dataclass(frozen=True)
class PlaneLayout:
    """How one plane is cut from the volume and laid on the screen.

    Attributes
    ----------
    fixed : int
        The volume axis (0 = i, 1 = j, 2 = k) the plane is perpendicular to; the plane's
        index is the voxel index along it.
    horizontal, vertical : int
        The volume axes running across and down the screen.
    flip_horizontal, flip_vertical : bool
        Whether those axes run right-to-left / bottom-to-top on the screen.
    count : int
        Number of planes (voxels along `fixed`).
    columns, rows : int
        Voxels across and down.
    width, height : int
        Size of the full-resolution image with square pixels.
    """

    plane: str
    fixed: int
    horizontal: int
    vertical: int
    flip_horizontal: bool
    flip_vertical: bool
    count: int
    columns: int
    rows: int
    width: int
    height: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def plane_layout(volume: Volume, plane: str) -> PlaneLayout:
    """The layout of `plane` ("axial", "coronal" or "sagittal") for this volume."""
    if plane not in _SCREEN:
        raise ValueError(f"unknown plane {plane!r}: use axial, coronal or sagittal")
    right, down = (np.asarray(v) for v in _SCREEN[plane])
    directions = [volume.affine[:3, a] / np.linalg.norm(volume.affine[:3, a]) for a in range(3)]
    fixed, h, v = max(
        itertools.permutations(range(3)),
        key=lambda p: abs(float(directions[p[1]] @ right)) + abs(float(directions[p[2]] @ down)),
    )
    shape, spacing = volume.shape, volume.spacing
    pixel = min(spacing[h], spacing[v])
    return PlaneLayout(
        plane=plane,
        fixed=fixed,
        horizontal=h,
        vertical=v,
        flip_horizontal=float(directions[h] @ right) < 0,
        flip_vertical=float(directions[v] @ down) < 0,
        count=shape[fixed],
        columns=shape[h],
        rows=shape[v],
        width=max(1, round(shape[h] * spacing[h] / pixel)),
        height=max(1, round(shape[v] * spacing[v] / pixel)),
    )


def plane_values(volume: Volume, layout: PlaneLayout, index: int, slab: int = 1) -> np.ndarray:
    """The stored values of one plane as (rows, columns) on the screen.

    With ``slab`` > 1, the maximum over ``slab`` planes centred on ``index`` (clipped at the
    ends of the volume): a thick-slab maximum intensity projection.
    """
    if not 0 <= index < layout.count:
        raise ValueError(f"plane {index + 1} does not exist (there are {layout.count})")
    if not 1 <= slab <= MAX_SLAB:
        raise ValueError(f"the slab must be 1 to {MAX_SLAB} planes thick")
    lo = max(0, index - slab // 2)
    hi = min(layout.count, lo + slab)
    cut: list[slice | int] = [slice(None)] * 3
    axis = _DATA_AXIS[layout.fixed]
    cut[axis] = index if slab == 1 else slice(lo, hi)
    values = volume.data[tuple(cut)]
    if slab > 1:
        values = values.max(axis=axis)
    # The two remaining data axes, in data order; put the vertical volume axis first.
    remaining = [a for a in (2, 1, 0) if a != layout.fixed]  # volume axes in data order
    if remaining[0] != layout.vertical:
        values = values.T
    if layout.flip_vertical:
        values = values[::-1]
    if layout.flip_horizontal:
        values = values[:, ::-1]
    return values


def render_plane(
    volume: Volume,
    plane: str,
    index: int,
    *,
    window: Window | None = None,
    invert: bool = False,
    size: int | None = None,
    slab: int = 1,
) -> bytes:
    """One plane as an 8-bit greyscale PNG with square pixels, the longer edge at most
    `size` (full resolution without it), in `window` (the volume's default without it)."""
    layout = plane_layout(volume, plane)
    values = plane_values(volume, layout, index, slab)
    grey = window_values(np.ascontiguousarray(values), volume.slope, volume.intercept,
                         window or volume.window, invert)  # fmt: skip
    width, height = layout.width, layout.height
    if size is not None and max(width, height) > size:
        scale = size / max(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    if (width, height) != (grey.shape[1], grey.shape[0]):
        from PIL import Image

        grey = np.asarray(Image.fromarray(grey).resize((width, height), Image.Resampling.BILINEAR))
    return encode_png(grey)
