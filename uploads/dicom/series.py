"""Group instances into series and sort slices in anatomical order.

Pure functions over lightweight per-instance metadata (:class:`SliceInfo`), so the
portal can sort a series from its database index without re-reading files.

Geometry (PS3.3 C.7.6.2.1.1, Image Position and Image Orientation): Image Orientation
(Patient) gives the direction cosines of the first row (``r``) and the first column
(``c``); the slice normal is ``n = r x c``. The position of a slice along the stack is
the projection of Image Position (Patient) — the centre of the first voxel — onto that
normal, ``d = n · p``. Sorting by ``d`` gives the anatomical order even when the gantry
is tilted (positions then step obliquely, but their projection on the normal is still
monotonic) and when InstanceNumber is missing or misleading.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from pydicom.dataset import Dataset

from uploads.dicom.values import floats as _floats

__all__ = [
    "SliceInfo",
    "SpacingStats",
    "group_by_series",
    "slice_info",
    "slice_normal",
    "slice_positions",
    "slice_spacing",
    "sort_slices",
]

Vector = tuple[float, float, float]


@dataclass(frozen=True)
class SliceInfo:
    """The metadata of one instance needed to group and order it.

    Attributes
    ----------
    sop_instance_uid : str
        SOP Instance UID (0008,0018): the final tie-breaker.
    series_instance_uid : str
        Series Instance UID (0020,000E).
    instance_number : int or None
        Instance Number (0020,0013).
    image_position : tuple of 3 floats or None
        Image Position (Patient) (0020,0032), mm.
    image_orientation : tuple of 6 floats or None
        Image Orientation (Patient) (0020,0037): row then column direction cosines.
    acquisition_number : int or None
        Acquisition Number (0020,0012).
    acquisition_time : str or None
        Acquisition Time (0008,0032), as in the file (HHMMSS.FFFFFF).
    number_of_frames : int
        Number of Frames (0028,0008), 1 for single-frame images.
    key : str or None
        Caller's handle (file path, database id...), carried through unchanged.
    """

    sop_instance_uid: str
    series_instance_uid: str
    instance_number: int | None = None
    image_position: Vector | None = None
    image_orientation: tuple[float, float, float, float, float, float] | None = None
    acquisition_number: int | None = None
    acquisition_time: str | None = None
    number_of_frames: int = 1
    key: str | None = None


@dataclass(frozen=True)
class SpacingStats:
    """Distances between consecutive slices along the slice normal, in mm.

    Attributes
    ----------
    count : int
        Number of slices with a position.
    gaps : tuple of float
        The consecutive distances (``count - 1`` values), in sorted order.
    minimum, maximum, mean, median : float or None
        Statistics of `gaps` (None with fewer than two slices).
    uniform : bool
        True when every gap is within `tolerance` of the median (and there are gaps).
    tolerance : float
        The tolerance used, mm.
    duplicates : int
        Gaps of (nearly) zero: slices at the same position (e.g. repeated acquisitions).
    tilt_degrees : float or None
        Angle between the slice normal and the line from the first to the last slice
        position: about 0 for a straight stack, the gantry tilt for tilted CT.
    """

    count: int
    gaps: tuple[float, ...]
    minimum: float | None
    maximum: float | None
    mean: float | None
    median: float | None
    uniform: bool
    tolerance: float
    duplicates: int
    tilt_degrees: float | None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def slice_info(ds: Dataset, key: str | None = None) -> SliceInfo:
    """Extract :class:`SliceInfo` from a dataset (pixel data not needed).

    Enhanced multi-frame objects without top-level position take the first frame's
    Plane Position / Plane Orientation functional groups (PS3.3 C.7.6.16.2.3/4).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The instance (e.g. read with ``stop_before_pixels=True``).
    key : str, optional
        Caller's handle stored in :attr:`SliceInfo.key`.
    """
    position = _floats(ds.get("ImagePositionPatient"), 3)
    orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    for seq_kw in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        groups = ds.get(seq_kw)
        if not groups:
            continue
        group = groups[0]
        if orientation is None and group.get("PlaneOrientationSequence"):
            orientation = _floats(
                group.PlaneOrientationSequence[0].get("ImageOrientationPatient"), 6
            )
        if position is None and group.get("PlanePositionSequence"):
            position = _floats(group.PlanePositionSequence[0].get("ImagePositionPatient"), 3)
    time = ds.get("AcquisitionTime")
    return SliceInfo(
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        instance_number=_int(ds.get("InstanceNumber")),
        image_position=position,  # type: ignore[arg-type]
        image_orientation=orientation,  # type: ignore[arg-type]
        acquisition_number=_int(ds.get("AcquisitionNumber")),
        acquisition_time=str(time) if time not in (None, "") else None,
        number_of_frames=max(1, _int(ds.get("NumberOfFrames")) or 1),
        key=key,
    )


def group_by_series(items: Iterable[SliceInfo]) -> dict[str, list[SliceInfo]]:
    """Group instances by Series Instance UID, each group sorted with :func:`sort_slices`.

    Returns
    -------
    dict
        Series UID → sorted instances, in order of first appearance.
    """
    groups: dict[str, list[SliceInfo]] = defaultdict(list)
    for item in items:
        groups[item.series_instance_uid].append(item)
    return {uid: sort_slices(members) for uid, members in groups.items()}


def _cross(a: Sequence[float], b: Sequence[float]) -> Vector:
    return (
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    )


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def slice_normal(orientation: Sequence[float]) -> Vector | None:
    """Return the unit slice normal ``row x column`` (PS3.3 C.7.6.2.1.1), or None.

    Parameters
    ----------
    orientation : sequence of 6 floats
        Image Orientation (Patient).
    """
    if len(orientation) != 6:
        return None
    n = _cross(orientation[:3], orientation[3:])
    norm = math.sqrt(_dot(n, n))
    if not math.isfinite(norm) or norm < 1e-6:
        return None
    return (n[0] / norm, n[1] / norm, n[2] / norm)


def _common_normal(items: Sequence[SliceInfo]) -> Vector | None:
    """The normal of the most frequent orientation among `items` (None if none)."""
    counts = Counter(
        tuple(round(v, 4) for v in it.image_orientation)
        for it in items
        if it.image_orientation is not None
    )
    if not counts:
        return None
    orientation, _ = counts.most_common(1)[0]
    return slice_normal(orientation)


def slice_positions(items: Sequence[SliceInfo]) -> list[float | None]:
    """Return each slice's distance along the common slice normal, mm (``n · p``).

    None for slices without a position or when no orientation is known.
    """
    normal = _common_normal(items)
    return [
        None if normal is None or it.image_position is None else _dot(normal, it.image_position)
        for it in items
    ]


def sort_slices(items: Iterable[SliceInfo]) -> list[SliceInfo]:
    """Sort instances of one series in anatomical order.

    When every instance has Image Position and the series has an orientation, sort by the
    projection of the position on the slice normal (ascending: e.g. feet → head for axial
    slices with the usual orientation); slices at the same position (repeated
    acquisitions) by Acquisition Number and Time, then Instance Number, then SOP Instance
    UID.
    Otherwise sort by Instance Number (missing last), then SOP Instance UID. The result
    does not depend on the input order.

    Parameters
    ----------
    items : iterable of SliceInfo
        Instances of one series.

    Returns
    -------
    list of SliceInfo
    """
    members = list(items)
    positions = slice_positions(members)

    def number_key(it: SliceInfo) -> tuple[int, int]:
        return (0, it.instance_number) if it.instance_number is not None else (1, 0)

    def acquisition_key(it: SliceInfo) -> tuple[int, str]:
        number = it.acquisition_number
        return (number if number is not None else 2**31, it.acquisition_time or "")

    if members and all(p is not None for p in positions):
        decorated = sorted(
            zip(positions, members, strict=True),
            key=lambda pm: (
                round(pm[0] or 0.0, 4),
                acquisition_key(pm[1]),
                number_key(pm[1]),
                pm[1].sop_instance_uid,
            ),
        )
        return [m for _, m in decorated]
    return sorted(members, key=lambda it: (number_key(it), it.sop_instance_uid))


def slice_spacing(items: Iterable[SliceInfo], tolerance: float = 0.01) -> SpacingStats:
    """Return statistics of the spacing between consecutive slices (PS3.3 C.7.6.2.1.1).

    Parameters
    ----------
    items : iterable of SliceInfo
        Instances of one series (any order; they are sorted first).
    tolerance : float
        Largest deviation from the median gap, in mm, for the spacing to count as
        uniform; also the limit under which a gap counts as a duplicate position.

    Returns
    -------
    SpacingStats
    """
    ordered = sort_slices(items)
    placed = [
        (pos, it)
        for pos, it in zip(slice_positions(ordered), ordered, strict=True)
        if pos is not None
    ]
    gaps = tuple(b[0] - a[0] for a, b in pairwise(placed))
    tilt: float | None = None
    normal = _common_normal(ordered)
    if normal is not None and len(placed) >= 2:
        first, last = placed[0][1].image_position, placed[-1][1].image_position
        assert first is not None and last is not None
        step = (last[0] - first[0], last[1] - first[1], last[2] - first[2])
        length = math.sqrt(_dot(step, step))
        if length > 1e-6:
            cosine = min(1.0, abs(_dot(step, normal)) / length)
            tilt = math.degrees(math.acos(cosine))
    if not gaps:
        return SpacingStats(len(placed), (), None, None, None, None, False, tolerance, 0, tilt)
    ordered_gaps = sorted(gaps)
    mid = len(ordered_gaps) // 2
    median = (
        ordered_gaps[mid]
        if len(ordered_gaps) % 2
        else (ordered_gaps[mid - 1] + ordered_gaps[mid]) / 2
    )
    return SpacingStats(
        count=len(placed),
        gaps=gaps,
        minimum=min(gaps),
        maximum=max(gaps),
        mean=sum(gaps) / len(gaps),
        median=median,
        uniform=all(abs(g - median) <= tolerance for g in gaps) and median > tolerance,
        tolerance=tolerance,
        duplicates=sum(1 for g in gaps if abs(g) <= tolerance),
        tilt_degrees=tilt,
    )
