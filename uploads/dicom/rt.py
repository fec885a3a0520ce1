"""Radiotherapy overlays: structure contours and isodose lines on an image plane.

An RT Structure Set (PS3.3 A.19) holds, per region of interest (ROI), planar contours as
lists of patient coordinates (ROI Contour Module, C.8.8.6: Contour Data (3006,0050),
x\\y\\z triplets in mm, Contour Geometric Type CLOSED_PLANAR / OPEN_PLANAR / POINT). An RT
Dose (A.18) is a grid of dose values: an image stack whose frames lie at Grid Frame
Offset Vector (3004,000C) distances along the normal (C.8.8.3.2: relative to Image
Position (Patient) when the first offset is 0, else absolute z for axial grids), each
stored value times Dose Grid Scaling (3004,000E) in Dose Units (Gy or RELATIVE). Both
refer to the images through one Frame of Reference UID: they are drawn only on images
of the same frame of reference.

:func:`contours_on_plane` keeps the contours lying in an image's plane (within half the
slice thickness) and gives them in the image's pixel coordinates; :func:`dose_on_plane`
samples the dose grid (trilinear) at the image's pixel centres; :func:`isolines` traces
a level of that field (marching squares). No Django, no Celery: plain numpy + pydicom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from uploads.dicom.errors import DicomInputError
from uploads.dicom.series import slice_normal
from uploads.dicom.values import floats

__all__ = [
    "DEFAULT_LEVELS",
    "DoseGrid",
    "ImagePlane",
    "Structure",
    "contours_on_plane",
    "dose_on_plane",
    "isolines",
    "prescription_dose",
    "read_dose",
    "read_structures",
]

CONTOUR_DATA = Tag(0x3006, 0x0050)
#: Isodose levels drawn, in percent of the reference dose, with their colours.
DEFAULT_LEVELS: tuple[tuple[int, str], ...] = (
    (107, "#ff00ff"),
    (100, "#ff0000"),
    (95, "#ff8000"),
    (80, "#ffff00"),
    (50, "#00ff00"),
    (30, "#00c0ff"),
)
#: Contours are in an image's plane when within this much of it, if the image does not
#: give its Slice Thickness (mm).
DEFAULT_HALF_THICKNESS = 0.5


@dataclass(frozen=True)
class Structure:
    """One region of interest of an RT Structure Set.

    Attributes
    ----------
    number : int
        ROI Number (3006,0022).
    name : str
        ROI Name (3006,0026).
    color : str
        ROI Display Color (3006,002A) as ``#rrggbb`` (grey when absent).
    contours : list of numpy.ndarray
        Each contour's points, (N, 3) in patient coordinates (mm); closed planar and
        open planar contours only (single points are left out).
    closed : list of bool
        Whether each contour is CLOSED_PLANAR.
    """

    number: int
    name: str
    color: str
    contours: list[np.ndarray]
    closed: list[bool]


@dataclass(frozen=True)
class ImagePlane:
    """Where an image's pixels are in patient space (Image Plane Module, C.7.6.2).

    Pixel (column i, row j) has its centre at
    ``position + i · spacing[1] · row + j · spacing[0] · column``.
    """

    position: np.ndarray
    row: np.ndarray
    column: np.ndarray
    normal: np.ndarray
    spacing: tuple[float, float]
    rows: int
    columns: int
    half_thickness: float

    @classmethod
    def of(cls, ds: Dataset) -> ImagePlane | None:
        """The plane of a single-frame image, or None without Image Plane attributes."""
        position = floats(ds.get("ImagePositionPatient"), 3)
        orientation = floats(ds.get("ImageOrientationPatient"), 6)
        spacing = floats(ds.get("PixelSpacing"), 2)
        if position is None or orientation is None or spacing is None or min(spacing) <= 0:
            return None
        normal = slice_normal(orientation)
        if normal is None:
            return None
        try:
            thickness = float(ds.get("SliceThickness") or 0)
        except (TypeError, ValueError):
            thickness = 0.0
        half = thickness / 2 if thickness > 0 else DEFAULT_HALF_THICKNESS
        return cls(
            position=np.asarray(position),
            row=np.asarray(orientation[:3]),
            column=np.asarray(orientation[3:]),
            normal=np.asarray(normal),
            spacing=(spacing[0], spacing[1]),
            rows=int(ds.get("Rows") or 0),
            columns=int(ds.get("Columns") or 0),
            half_thickness=half,
        )

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) patient points → (N, 2) pixel coordinates (column, row)."""
        offset = points - self.position
        return np.stack(
            [offset @ self.row / self.spacing[1], offset @ self.column / self.spacing[0]], axis=1
        )

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distances (mm) of (N, 3) points from the plane."""
        return (points - self.position) @ self.normal


def _color(value: object) -> str:
    rgb = floats(value, 3)
    if rgb is None:
        return "#c0c0c0"
    r, g, b = (max(0, min(255, round(v))) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _contour_data(contour: Dataset) -> np.ndarray | None:
    """Contour Data as floats, parsed from the raw DS text when it was not read yet
    (pydicom's per-value DS conversion took 1.2 s for a 2 MB structure set)."""
    if CONTOUR_DATA not in contour:
        return None
    element = contour.get_item(CONTOUR_DATA)
    value = element.value
    try:
        if isinstance(value, bytes):
            text = value.decode("ascii", "replace").replace("\x00", " ")
            points = np.asarray(text.split("\\"), dtype=float)
        else:
            points = np.asarray([float(v) for v in value or []], dtype=float)
    except (TypeError, ValueError):
        return None
    return points if np.isfinite(points).all() else None


def read_structures(ds: Dataset) -> list[Structure]:
    """The ROIs of an RT Structure Set that have contours, in ROI Number order.

    Raises
    ------
    DicomInputError
        If the data set is not an RT Structure Set.
    """
    if ds.get("Modality") != "RTSTRUCT" and "ROIContourSequence" not in ds:
        raise DicomInputError("not an RT Structure Set")
    names = {
        int(item.ROINumber): str(item.get("ROIName") or f"ROI {item.ROINumber}")
        for item in ds.get("StructureSetROISequence") or []
        if item.get("ROINumber") is not None
    }
    structures = []
    for item in ds.get("ROIContourSequence") or []:
        number = item.get("ReferencedROINumber")
        if number is None:
            continue
        contours, closed = [], []
        for contour in item.get("ContourSequence") or []:
            kind = str(contour.get("ContourGeometricType") or "")
            if kind not in ("CLOSED_PLANAR", "OPEN_PLANAR"):
                continue
            points = _contour_data(contour)
            if points is None or points.size < 6 or points.size % 3:
                continue
            contours.append(points.reshape(-1, 3))
            closed.append(kind == "CLOSED_PLANAR")
        if contours:
            structures.append(
                Structure(
                    number=int(number),
                    name=names.get(int(number), f"ROI {number}"),
                    color=_color(item.get("ROIDisplayColor")),
                    contours=contours,
                    closed=closed,
                )
            )
    return sorted(structures, key=lambda s: s.number)


def contours_on_plane(
    structures: Sequence[Structure], plane: ImagePlane
) -> list[tuple[Structure, list[np.ndarray]]]:
    """The contours lying in the image's plane, as (N, 2) pixel coordinates.

    A contour is in the plane when all its points are within half the slice thickness of
    it (contours are drawn on the image they were drawn on, not projected from others).
    """
    found = []
    for structure in structures:
        paths = [
            plane.to_pixels(points)
            for points in structure.contours
            if np.abs(plane.distance(points)).max() <= plane.half_thickness
        ]
        if paths:
            found.append((structure, paths))
    return found


@dataclass(frozen=True)
class DoseGrid:
    """An RT Dose grid in Gy (or relative units).

    Attributes
    ----------
    values : numpy.ndarray
        (frames, rows, columns) dose, scaled by Dose Grid Scaling.
    plane : ImagePlane
        The first frame's plane.
    offsets : numpy.ndarray
        Distance of each frame from the first along the normal (mm, ascending).
    units : str
        Dose Units (3004,0002): "GY" or "RELATIVE".
    """

    values: np.ndarray
    plane: ImagePlane
    offsets: np.ndarray
    units: str


def read_dose(ds: Dataset) -> DoseGrid:
    """Read an RT Dose grid (pixel data included).

    Raises
    ------
    DicomInputError
        If the data set is not a usable dose grid.
    """
    plane = ImagePlane.of(ds)
    if ds.get("Modality") != "RTDOSE" or plane is None or "PixelData" not in ds:
        raise DicomInputError("not an RT Dose grid with image plane attributes")
    try:
        values = np.asarray(ds.pixel_array, dtype=np.float32)
        scaling = float(ds.get("DoseGridScaling") or 1.0)
    except Exception as exc:  # decoders raise many types; all mean "cannot decode"
        raise DicomInputError("the dose grid cannot be decoded") from exc
    if values.ndim == 2:
        values = values[np.newaxis]
    raw = ds.get("GridFrameOffsetVector")
    offsets = np.asarray([float(v) for v in raw] if raw else [0.0], dtype=float)
    if len(offsets) != values.shape[0]:
        raise DicomInputError("Grid Frame Offset Vector does not match the number of frames")
    if offsets[0] != 0:  # absolute z (axial grids only, C.8.8.3.2): make relative
        offsets = (offsets - plane.position[2]) * float(np.sign(plane.normal[2]) or 1.0)
    if len(offsets) > 1 and np.any(np.diff(offsets) <= 0):
        if np.all(np.diff(offsets) < 0):  # frames stored from the far end
            offsets, values = offsets[::-1], values[::-1]
        else:
            raise DicomInputError("the dose frames are not in order")
    if offsets[0]:  # the first frame is not at Image Position (Patient)
        plane = replace(plane, position=plane.position + offsets[0] * plane.normal)
    return DoseGrid(
        values=values * np.float32(scaling),
        plane=plane,
        offsets=offsets - offsets[0],
        units=str(ds.get("DoseUnits") or ""),
    )


def dose_on_plane(dose: DoseGrid, plane: ImagePlane, step: int = 1) -> np.ndarray | None:
    """The dose at the image's pixel centres (every ``step``-th pixel), trilinear.

    Returns
    -------
    numpy.ndarray or None
        (ceil(rows / step), ceil(columns / step)) float32, NaN outside the grid; None
        when the grid does not reach the plane at all.
    """
    rows = np.arange(0, plane.rows, step, dtype=float)
    columns = np.arange(0, plane.columns, step, dtype=float)
    jj, ii = np.meshgrid(rows, columns, indexing="ij")
    points = (
        plane.position
        + ii[..., None] * plane.spacing[1] * plane.row
        + jj[..., None] * plane.spacing[0] * plane.column
    )
    grid = dose.plane
    offset = points - grid.position
    u = offset @ grid.row / grid.spacing[1]  # dose column
    v = offset @ grid.column / grid.spacing[0]  # dose row
    w = offset @ grid.normal  # along the dose normal (mm)
    frames, height, width = dose.values.shape
    k = np.interp(w, dose.offsets, np.arange(frames), left=np.nan, right=np.nan)
    if frames == 1:  # a single plane: within half a millimetre of it
        k = np.where(np.abs(w) <= DEFAULT_HALF_THICKNESS, 0.0, np.nan)
    inside = (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1) & np.isfinite(k)
    if not inside.any():
        return None
    out = np.full(u.shape, np.nan, dtype=np.float32)
    u, v, k = u[inside], v[inside], k[inside]
    u0, v0, k0 = (np.floor(a).astype(int) for a in (u, v, k))
    u1, v1, k1 = (
        np.minimum(u0 + 1, width - 1),
        np.minimum(v0 + 1, height - 1),
        np.minimum(k0 + 1, frames - 1),
    )
    fu, fv, fk = u - u0, v - v0, k - k0
    value = np.zeros(u.shape, dtype=np.float64)
    for kk, wk in ((k0, 1 - fk), (k1, fk)):
        for vv, wv in ((v0, 1 - fv), (v1, fv)):
            for uu, wu in ((u0, 1 - fu), (u1, fu)):
                value += wk * wv * wu * dose.values[kk, vv, uu]
    out[inside] = value
    return out


def prescription_dose(plan: Dataset | None) -> float | None:
    """The largest Target Prescription Dose (300A,0026) of an RT Plan, in Gy, if any."""
    if plan is None:
        return None
    doses = []
    for item in plan.get("DoseReferenceSequence") or []:
        try:
            value = float(item.get("TargetPrescriptionDose") or 0)
        except (TypeError, ValueError):
            continue
        if value > 0 and np.isfinite(value):
            doses.append(value)
    return max(doses) if doses else None


# Marching squares: for each of the 16 corner patterns of a cell (bit 0 top-left, 1 top-
# right, 2 bottom-right, 3 bottom-left above the level), the pairs of cell edges the line
# joins (edges: 0 top, 1 right, 2 bottom, 3 left). Saddles (5, 10) take one of the two
# readings; at the grid resolution of a dose plane the difference does not show.
_CASES: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((3, 0),), 2: ((0, 1),), 3: ((3, 1),), 4: ((1, 2),), 5: ((3, 0), (1, 2)),
    6: ((0, 2),), 7: ((3, 2),), 8: ((2, 3),), 9: ((2, 0),), 10: ((0, 1), (2, 3)),
    11: ((2, 1),), 12: ((1, 3),), 13: ((1, 0),), 14: ((0, 3),),
}  # fmt: skip


def isolines(field: np.ndarray, level: float) -> np.ndarray:
    """Line segments where a 2-D field crosses ``level`` (marching squares).

    Parameters
    ----------
    field : numpy.ndarray
        (rows, columns) values; NaN cells are skipped.
    level : float
        The value traced.

    Returns
    -------
    numpy.ndarray
        (N, 4) segments ``x0, y0, x1, y1`` in the field's (column, row) coordinates, each
        end linearly interpolated along a cell edge.
    """
    if field.shape[0] < 2 or field.shape[1] < 2:
        return np.zeros((0, 4))
    tl, tr = field[:-1, :-1], field[:-1, 1:]
    bl, br = field[1:, :-1], field[1:, 1:]
    valid = np.isfinite(tl) & np.isfinite(tr) & np.isfinite(bl) & np.isfinite(br)
    case = (
        (tl > level).astype(int)
        | (tr > level).astype(int) << 1
        | (br > level).astype(int) << 2
        | (bl > level).astype(int) << 3
    )
    case[~valid] = 0
    rows, columns = np.nonzero((case > 0) & (case < 15))
    if rows.size == 0:
        return np.zeros((0, 4))

    def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (level - a) / (b - a)
        return np.clip(np.nan_to_num(t, nan=0.5), 0.0, 1.0)

    a, b, c, d = (corner[rows, columns] for corner in (tl, tr, br, bl))
    x, y = columns.astype(float), rows.astype(float)
    edges = (  # the crossing point on each edge of the picked cells
        (x + cross(a, b), y),  # top: tl → tr
        (x + 1, y + cross(b, c)),  # right: tr → br
        (x + cross(d, c), y + 1),  # bottom: bl → br
        (x, y + cross(a, d)),  # left: tl → bl
    )
    picked = case[rows, columns]
    segments = []
    for pattern, pairs in _CASES.items():
        mask = picked == pattern
        if not mask.any():
            continue
        for start, end in pairs:
            ends = (edges[start][0], edges[start][1], edges[end][0], edges[end][1])
            segments.append(np.stack([e[mask] for e in ends], axis=1))
    return np.concatenate(segments)
