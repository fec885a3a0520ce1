"""Export helpers: a DICOMDIR for a set of instances, and NIfTI volumes from slice stacks.

DICOMDIR (PS3.10 7.2, PS3.3 F.3 Basic Directory IOD): :func:`dicomdir_plan` builds the
DICOMDIR with pydicom's :class:`~pydicom.fileset.FileSet` from the instances' *headers*
only (read with ``stop_before_pixels``) and returns its bytes with the File ID each
instance gets (``PT000000/ST000000/SE000000/IM000000``: ISO 9660 level 1 names, at most
8 upper-case characters per component, no extension, PS3.12 Annex F). The caller then
copies the unchanged instance files to those names (e.g. streamed into a ZIP), so an
export never needs the pixel data of the whole study in memory or twice on disk.

Type 1 attributes of the directory records (PS3.3 F.5: PatientID; StudyDate, StudyTime,
StudyID; SeriesNumber; InstanceNumber) are often empty after de-identification (PS3.15
Annex E blanks Study ID, and may blank dates). The *record* then gets a documented
placeholder (:data:`RECORD_FALLBACKS`, or the position of the series / instance);
the files themselves are not changed.

NIfTI (NIfTI-1, https://nifti.nimh.nih.gov/nifti-1): :func:`plan_volume` checks that a
series is a regular stack — one orientation, one image size and pixel spacing, one
frame and one sample per image, at least two slices, slice positions (Image Position
(Patient) projected on the slice normal) equally spaced within
:data:`SPACING_TOLERANCE`, and stacked along the normal (no gantry tilt above
:data:`MAX_TILT_DEGREES`) — and computes the voxel-to-world affine. Such a stack is
written as it is, voxel for voxel. Other stacks are resampled onto a regular grid, as
dcm2niix does ("Tilt" and "Eq" outputs): a gantry-tilted stack (head CT, up to
:data:`MAX_RESAMPLE_TILT_DEGREES`) has each slice moved in its plane so the slices line up
along the normal (the grid grows to hold every moved slice, nothing is cut off), and an
unevenly spaced stack gets evenly spaced slices, each interpolated linearly between the
two nearest acquired slices. Resampled volumes say so in the header's ``descrip``
field (:attr:`VolumePlan.description`). :func:`write_nifti` writes the volume slice by
slice through a memory-mapped temporary file.

Affine (PS3.3 C.7.6.2.1.1): the centre of voxel (i, j, k) — column i, row j, slice k — is,
in DICOM patient coordinates (LPS, mm),

    P = S_0 + i·Δc·r + j·Δr·c + k·s

with S_0 the Image Position (Patient) of the first slice, r and c the row and column
direction cosines of Image Orientation (Patient), Δr, Δc = Pixel Spacing (row spacing
first), and s = (S_{n-1} - S_0) / (n - 1) the mean step between slices. NIfTI's world
space is RAS, so the first two rows of that LPS affine are negated. For a resampled
stack, s is the output slice spacing times the unit normal, and S_0 the first slice's
position moved in its plane to the corner of the grown grid.

No Django, no Celery: plain Python + pydicom + numpy + nibabel.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet

from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import Source, read_dataset
from uploads.dicom.series import slice_normal
from uploads.dicom.values import floats as _floats

__all__ = [
    "MAX_RESAMPLE_TILT_DEGREES",
    "MAX_TILT_DEGREES",
    "RECORD_FALLBACKS",
    "SPACING_TOLERANCE",
    "DicomdirPlan",
    "Resampling",
    "VolumeError",
    "VolumePlan",
    "dicomdir_plan",
    "fill_volume",
    "lps_to_ras",
    "nifti_affine",
    "plan_volume",
    "slice_pixels",
    "write_nifti",
]

#: Placeholders for empty Type 1 keys of the directory records (not written to files).
RECORD_FALLBACKS: dict[str, str] = {
    "PatientID": "ANONYMOUS",
    "StudyDate": "19000101",
    "StudyTime": "000000",
}

#: Largest deviation of a gap between consecutive slices from the median gap, as a
#: fraction of the median gap (with a floor of :data:`SPACING_FLOOR_MM`).
SPACING_TOLERANCE = 0.02
SPACING_FLOOR_MM = 0.01
#: Largest angle between the slice normal and the direction the slices step in for a
#: stack written as it is (no resampling).
MAX_TILT_DEGREES = 0.5
#: Largest gantry tilt that is corrected by resampling; a steeper stack is refused (CT
#: gantries tilt by at most about 30°).
MAX_RESAMPLE_TILT_DEGREES = 45.0
#: Shifts closer than this to a whole number of pixels are taken as whole.
PIXEL_EPSILON = 1e-3
#: An unevenly spaced stack is resampled at its smallest gap, but to at most this many
#: times its number of slices.
MAX_RESAMPLE_FACTOR = 4
#: Direction cosines / pixel spacings of the slices of one volume must agree this well.
ORIENTATION_TOLERANCE = 1e-3
PIXEL_SPACING_TOLERANCE = 1e-3


# --------------------------------------------------------------------------- DICOMDIR


@dataclass(frozen=True)
class DicomdirPlan:
    """A DICOMDIR and where each instance goes.

    Attributes
    ----------
    dicomdir : bytes
        The encoded DICOMDIR file (Explicit VR Little Endian, PS3.10 format).
    file_ids : list of (str or None)
        For each input header, its path in the file-set with "/" separators, or None
        when it could not be indexed (see `skipped`).
    skipped : dict of int to str
        Input index → reason, for instances left out of the DICOMDIR.
    """

    dicomdir: bytes
    file_ids: list[str | None]
    skipped: dict[int, str] = field(default_factory=dict)


def _empty(ds: Dataset, keyword: str) -> bool:
    return keyword not in ds or ds[keyword].VM == 0 or str(ds[keyword].value).strip() == ""


def _set(ds: Dataset, keyword: str, value: Any) -> None:
    """Set an element in `ds` only (the copy shares its elements with the caller's header)."""
    if keyword in ds:
        del ds[keyword]
    setattr(ds, keyword, value)


def _record_source(
    header: Dataset, series_number: int, instance_number: int, study_id: str
) -> Dataset:
    """A copy of `header` with the record's Type 1 keys filled and the File Meta completed.

    The copy is shallow (no pixel data, the caller's elements unchanged): values are only
    ever replaced by new elements, never modified in place.
    """
    ds = Dataset(dict(header.items()))  # a new element dict (Dataset(ds) would share it)
    ds.pop("PixelData", None)
    for keyword, value in RECORD_FALLBACKS.items():
        if _empty(ds, keyword):
            _set(ds, keyword, value)
    if _empty(ds, "StudyID"):
        _set(ds, "StudyID", study_id[:16])
    if _empty(ds, "SeriesNumber"):
        _set(ds, "SeriesNumber", series_number)
    if _empty(ds, "InstanceNumber"):
        _set(ds, "InstanceNumber", instance_number)
    if _empty(ds, "Modality"):
        _set(ds, "Modality", "OT")
    meta = FileMetaDataset(dict((getattr(header, "file_meta", None) or FileMetaDataset()).items()))
    # The records name the instance by these; keep them equal to the dataset's own UIDs.
    if not _empty(ds, "SOPClassUID"):
        _set(meta, "MediaStorageSOPClassUID", ds.SOPClassUID)
    _set(meta, "MediaStorageSOPInstanceUID", ds.SOPInstanceUID)
    if _empty(meta, "TransferSyntaxUID"):
        raise DicomInputError("the file does not say how it is encoded (no transfer syntax)")
    ds.file_meta = meta
    return ds


def dicomdir_plan(
    headers: Sequence[Dataset], *, fileset_id: str = "EXPORT", study_id: str = "1"
) -> DicomdirPlan:
    """Build a DICOMDIR for `headers` and assign each instance its File ID.

    Parameters
    ----------
    headers : sequence of Dataset
        The instances (pixel data not needed; e.g. read with ``stop_before_pixels``),
        with their File Meta. They are not modified.
    fileset_id : str
        File-set ID (0004,1130), at most 16 characters of the CS repertoire.
    study_id : str
        Placeholder for an empty Study ID in the STUDY record.

    Returns
    -------
    DicomdirPlan

    Raises
    ------
    DicomInputError
        If no instance at all could be put in the DICOMDIR.
    """
    fs = FileSet()
    fs.ID = fileset_id[:16]
    index_of: dict[str, int] = {}
    skipped: dict[int, str] = {}
    series_numbers: dict[str, int] = {}
    per_series: dict[str, int] = {}
    for index, header in enumerate(headers):
        sop = str(header.get("SOPInstanceUID", "")).strip()
        if not sop:
            skipped[index] = "no SOP Instance UID"
            continue
        if sop in index_of:
            skipped[index] = "the same SOP Instance UID as another file"
            continue
        series_uid = str(header.get("SeriesInstanceUID", ""))
        series_number = series_numbers.setdefault(series_uid, len(series_numbers) + 1)
        per_series[series_uid] = per_series.get(series_uid, 0) + 1
        try:
            source = _record_source(header, series_number, per_series[series_uid], study_id)
            fs.add(source)
        except (ValueError, KeyError, AttributeError, NotImplementedError) as exc:
            skipped[index] = f"not indexable in a DICOMDIR ({type(exc).__name__})"
            continue
        index_of[sop] = index
    if not index_of:
        raise DicomInputError("none of the files can be listed in a DICOMDIR")
    with tempfile.TemporaryDirectory(prefix="dicomdir-") as tmp:
        fs.write(tmp)
        dicomdir = (Path(tmp) / "DICOMDIR").read_bytes()
        file_ids: list[str | None] = [None] * len(headers)
        for instance in fs:
            file_ids[index_of[str(instance.SOPInstanceUID)]] = "/".join(
                Path(str(instance.FileID)).parts
            )
    return DicomdirPlan(dicomdir=dicomdir, file_ids=file_ids, skipped=skipped)


# --------------------------------------------------------------------------- NIfTI


class VolumeError(DicomInputError):
    """The slices do not form a regular volume; the message says why."""


@dataclass(frozen=True)
class VolumePlan:
    """A regular stack of slices.

    Attributes
    ----------
    order : list of int
        Indices into the input headers, in stacking order (ascending along the normal).
    shape : tuple of 3 ints
        (columns, rows, slices): NIfTI's i, j, k.
    affine : numpy.ndarray
        4x4 voxel → RAS (mm) matrix.
    spacing : tuple of 3 floats
        Column spacing, row spacing and slice spacing (mm).
    dtype : numpy.dtype
        Stored pixel type.
    slope, intercept : float or None
        Rescale Slope / Intercept common to every slice (None: differs between slices,
        the volume is written as float32 rescaled values).
    resampling : Resampling or None
        None when the acquired slices are the volume's slices (a regular stack).
    description : str
        What resampling did, in words (written to the NIfTI ``descrip`` field).
    """

    order: list[int]
    shape: tuple[int, int, int]
    affine: np.ndarray
    spacing: tuple[float, float, float]
    dtype: np.dtype[Any]
    slope: float | None
    intercept: float | None
    resampling: Resampling | None = None
    description: str = ""


@dataclass(frozen=True)
class Resampling:
    """How a tilted or unevenly spaced stack is put onto the plan's regular grid.

    Attributes
    ----------
    source_shape : tuple of 2 ints
        (rows, columns) of the acquired slices.
    shifts : list of (float, float)
        For each acquired slice, in plan order: how far it moves in its plane, in
        (rows, columns) of pixels (both >= 0, in the grown grid).
    sources : list of (int, float)
        For each output slice: (k, w), the output is (1 - w) × acquired slice k + w ×
        acquired slice k + 1 (w = 0: slice k alone).
    """

    source_shape: tuple[int, int]
    shifts: list[tuple[float, float]]
    sources: list[tuple[int, float]]


def header_number(ds: Dataset, keyword: str, default: float) -> float:
    """A numeric header value (DS/IS), or ``default`` when it is absent or not a number."""
    try:
        value = ds.get(keyword)
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def lps_to_ras(matrix: np.ndarray) -> np.ndarray:
    """Return a 4x4 affine in RAS from one in DICOM's LPS (negate x and y)."""
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ matrix


def nifti_affine(
    first_position: Sequence[float] | np.ndarray,
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    step: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Return the NIfTI (RAS) voxel-to-world affine of a slice stack.

    Parameters
    ----------
    first_position : 3 floats
        Image Position (Patient) of the first slice (centre of its first voxel), LPS mm.
    orientation : 6 floats
        Image Orientation (Patient): row then column direction cosines.
    pixel_spacing : 2 floats
        Pixel Spacing: row spacing (between rows), then column spacing.
    step : 3 floats
        Vector from one slice's position to the next, LPS mm.

    Returns
    -------
    numpy.ndarray
        4x4 affine mapping (i = column, j = row, k = slice, 1) to RAS mm.
    """
    row_cosine = np.asarray(orientation[:3], dtype=float)
    column_cosine = np.asarray(orientation[3:], dtype=float)
    lps = np.eye(4)
    lps[:3, 0] = row_cosine * float(pixel_spacing[1])
    lps[:3, 1] = column_cosine * float(pixel_spacing[0])
    lps[:3, 2] = np.asarray(step, dtype=float)
    lps[:3, 3] = np.asarray(first_position, dtype=float)
    return lps_to_ras(lps)


def _stored_dtype(ds: Dataset) -> np.dtype[Any]:
    bits = int(header_number(ds, "BitsAllocated", 16))
    signed = int(header_number(ds, "PixelRepresentation", 0)) == 1
    if bits not in (8, 16, 32):
        raise VolumeError(f"{bits}-bit pixels are not supported")
    return np.dtype(f"{'i' if signed else 'u'}{bits // 8}")


def _geometry(header: Dataset) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    position = _floats(header.get("ImagePositionPatient"), 3)
    orientation = _floats(header.get("ImageOrientationPatient"), 6)
    spacing = _floats(header.get("PixelSpacing"), 2)
    if position is None or orientation is None:
        raise VolumeError("a slice has no position or orientation (Image Plane module)")
    if spacing is None or min(spacing) <= 0:
        raise VolumeError("a slice has no pixel spacing")
    return position, orientation, spacing


def _check_images(headers: Sequence[Dataset]) -> None:
    sizes = {
        (int(header_number(h, "Rows", 0)), int(header_number(h, "Columns", 0))) for h in headers
    }
    if len(sizes) != 1 or min(next(iter(sizes))) <= 0:
        raise VolumeError("the slices do not all have the same image size")
    if any(int(header_number(h, "NumberOfFrames", 1)) != 1 for h in headers):
        raise VolumeError("multi-frame images are not supported")
    if any(int(header_number(h, "SamplesPerPixel", 1)) != 1 for h in headers):
        raise VolumeError("colour images are not supported")


def plan_volume(
    headers: Sequence[Dataset],
    *,
    tolerance: float = SPACING_TOLERANCE,
    max_tilt: float = MAX_TILT_DEGREES,
) -> VolumePlan:
    """Check that `headers` form a regular slice stack and compute its geometry.

    Parameters
    ----------
    headers : sequence of Dataset
        The instances of one series, any order (pixel data not needed).
    tolerance : float
        Allowed deviation of each gap between consecutive slices from the median gap,
        as a fraction of the median gap.
    max_tilt : float
        Largest angle (degrees) between the slice normal and the stacking direction.

    Returns
    -------
    VolumePlan

    Raises
    ------
    VolumeError
        With the reason when the series cannot be written as one volume.
    """
    if len(headers) < 2:
        raise VolumeError("only one slice: not a volume")
    _check_images(headers)
    geometry = [_geometry(h) for h in headers]
    orientation = geometry[0][1]
    spacing = geometry[0][2]
    for _, other_orientation, other_spacing in geometry[1:]:
        if max(abs(a - b) for a, b in zip(orientation, other_orientation, strict=True)) > (
            ORIENTATION_TOLERANCE
        ):
            raise VolumeError("the slices do not all have the same orientation")
        if max(abs(a - b) for a, b in zip(spacing, other_spacing, strict=True)) > (
            PIXEL_SPACING_TOLERANCE * max(spacing)
        ):
            raise VolumeError("the slices do not all have the same pixel spacing")
    normal = slice_normal(orientation)
    if normal is None:
        raise VolumeError("the orientation is not valid (row and column are parallel)")
    distances = [float(np.dot(normal, position)) for position, _, _ in geometry]
    order = sorted(range(len(headers)), key=lambda i: distances[i])
    gaps = [distances[b] - distances[a] for a, b in pairwise(order)]
    median = float(np.median(gaps))
    if min(gaps) <= SPACING_FLOOR_MM:
        raise VolumeError("several slices at the same position (repeated acquisitions)")
    even = max(abs(g - median) for g in gaps) <= max(SPACING_FLOOR_MM, tolerance * median)
    first = np.asarray(geometry[order[0]][0])
    last = np.asarray(geometry[order[-1]][0])
    step = (last - first) / (len(order) - 1)
    cosine = min(1.0, abs(float(np.dot(step, normal))) / float(np.linalg.norm(step)))
    tilt = math.degrees(math.acos(cosine))
    if tilt > MAX_RESAMPLE_TILT_DEGREES:
        raise VolumeError(
            f"the slices are not stacked along their normal (tilted by {tilt:.1f}°, more "
            f"than the {MAX_RESAMPLE_TILT_DEGREES:.0f}° a gantry tilts)"
        )
    slopes = {
        (header_number(h, "RescaleSlope", 1.0), header_number(h, "RescaleIntercept", 0.0))
        for h in headers
    }
    slope, intercept = next(iter(slopes)) if len(slopes) == 1 else (None, None)
    rows, columns = (
        int(header_number(headers[0], "Rows", 0)),
        int(header_number(headers[0], "Columns", 0)),
    )
    dtype = _stored_dtype(headers[order[0]])
    if even and tilt <= max_tilt:
        return VolumePlan(
            order=order,
            shape=(columns, rows, len(order)),
            affine=nifti_affine(first, orientation, spacing, step),
            spacing=(spacing[1], spacing[0], float(np.linalg.norm(step))),
            dtype=dtype,
            slope=slope,
            intercept=intercept,
        )
    # Resample: move each slice in its plane onto the first slice's normal line, and
    # (uneven stacks) interpolate evenly spaced slices along the normal.
    row_cosine, column_cosine = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    offsets = [np.asarray(geometry[i][0]) - first for i in order]
    across = [float(np.dot(o, column_cosine)) / spacing[0] for o in offsets]  # rows
    along = [float(np.dot(o, row_cosine)) / spacing[1] for o in offsets]  # columns
    shifts = [(a - min(across), b - min(along)) for a, b in zip(across, along, strict=True)]
    grown = (  # direction cosines in files are rounded: ignore a thousandth of a pixel
        rows + math.ceil(max(across) - min(across) - PIXEL_EPSILON),
        columns + math.ceil(max(along) - min(along) - PIXEL_EPSILON),
    )
    depths = [distances[i] - distances[order[0]] for i in order]
    if even:
        gap = depths[-1] / (len(order) - 1)
        sources = [(k, 0.0) for k in range(len(order))]
    else:
        gap = max(min(gaps), depths[-1] / (MAX_RESAMPLE_FACTOR * (len(order) - 1)))
        sources = interpolation_sources(depths, gap)
    corner = first + min(along) * spacing[1] * row_cosine + min(across) * spacing[0] * column_cosine
    done = [f"gantry tilt {tilt:.1f} deg corrected"] if tilt > max_tilt else []
    if not even:
        done.append(f"gaps {min(gaps):.2f}-{max(gaps):.2f} mm made {gap:.2f} mm")
    return VolumePlan(
        order=order,
        shape=(grown[1], grown[0], len(sources)),
        affine=nifti_affine(corner, orientation, spacing, gap * np.asarray(normal)),
        spacing=(spacing[1], spacing[0], gap),
        dtype=dtype,
        slope=slope,
        intercept=intercept,
        resampling=Resampling(source_shape=(rows, columns), shifts=shifts, sources=sources),
        description="resampled: " + "; ".join(done),
    )


def interpolation_sources(depths: Sequence[float], gap: float) -> list[tuple[int, float]]:
    """Evenly spaced output slices between the first and last acquired one.

    Parameters
    ----------
    depths : sequence of float
        Distance of each acquired slice from the first along the normal (ascending, mm).
    gap : float
        Output slice spacing (mm).

    Returns
    -------
    list of (int, float)
        For each output slice at depth m × gap: (k, w) with the output being
        (1 - w) × slice k + w × slice k + 1 (linear interpolation; w = 0 on a slice).
    """
    count = math.floor(depths[-1] / gap + 1e-6) + 1
    sources = []
    k = 0
    for m in range(count):
        depth = m * gap
        while k < len(depths) - 2 and depths[k + 1] <= depth + 1e-6:
            k += 1
        weight = (depth - depths[k]) / (depths[k + 1] - depths[k])
        if weight >= 1 - 1e-6:
            k, weight = k + 1, 0.0
        sources.append((k, weight if weight > 1e-6 else 0.0))
    return sources


def slice_pixels(source: Source) -> tuple[np.ndarray, float, float]:
    """Return the stored pixel values of a single-frame image with its rescale.

    Parameters
    ----------
    source : bytes, path, binary file object or Dataset
        The DICOM instance.

    Returns
    -------
    (numpy.ndarray, float, float)
        The (rows, columns) stored values, Rescale Slope and Rescale Intercept.

    Raises
    ------
    DicomInputError
        If the file cannot be read or its pixel data cannot be decoded.
    """
    ds = read_dataset(source)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # decoders raise many types; all mean "cannot decode"
        raise DicomInputError("the pixel data cannot be decoded") from exc
    return (
        pixels,
        header_number(ds, "RescaleSlope", 1.0),
        header_number(ds, "RescaleIntercept", 0.0),
    )


def write_nifti(
    plan: VolumePlan,
    slices: Iterable[tuple[np.ndarray, float, float]],
    path: str | os.PathLike[str],
) -> None:
    """Write a NIfTI-1 file (``.nii`` or ``.nii.gz``) of the planned volume.

    Parameters
    ----------
    plan : VolumePlan
        From :func:`plan_volume`.
    slices : iterable of (array, slope, intercept)
        Stored pixel values of each slice as (rows, columns) arrays, in ``plan.order``,
        with the slice's Rescale Slope and Intercept.
    path : path
        Output file; a ``.gz`` suffix compresses.
    """
    import nibabel as nib

    float_output = plan.slope is None
    dtype = np.dtype(np.float32) if float_output else plan.dtype
    with tempfile.TemporaryDirectory(prefix="nifti-") as tmp:
        volume = np.memmap(
            Path(tmp) / "volume.raw", dtype=dtype, mode="w+", shape=plan.shape, order="F"
        )
        values = (
            (p.astype(np.float32) * slope + intercept if float_output else p)
            for p, slope, intercept in slices
        )
        fill_volume(volume, plan, values)
        volume.flush()
        image = nib.Nifti1Image(volume, plan.affine)
        if plan.description:
            image.header["descrip"] = plan.description.encode("ascii")[:79]
        image.set_qform(plan.affine, code=1)  # scanner-based anatomical coordinates
        image.set_sform(plan.affine, code=1)
        image.header.set_xyzt_units("mm")
        image.header.set_data_dtype(dtype)
        if not float_output:
            image.header.set_slope_inter(plan.slope, plan.intercept)
        else:
            image.header.set_slope_inter(1.0, 0.0)
        nib.save(image, os.fspath(path))
        del volume, image


def fill_volume(volume: np.ndarray, plan: VolumePlan, slices: Iterator[np.ndarray]) -> None:
    """Fill a ``plan.shape`` (columns, rows, slices) array with the planned volume.

    ``slices`` are the stored (or rescaled) values of the acquired slices, (rows, columns)
    each, in ``plan.order``. Used by :func:`write_nifti` and by the viewer's multiplanar
    reformat (:mod:`uploads.dicom.volume`), so both see the same resampled voxels.
    """
    if plan.resampling is None:
        _fill_as_acquired(volume, slices)
    else:
        _fill_resampled(volume, plan.resampling, slices)


def _fill_as_acquired(volume: np.ndarray, slices: Iterator[np.ndarray]) -> None:
    columns, rows, count = volume.shape
    written = 0
    for k, pixels in enumerate(slices):
        if k >= count or pixels.shape != (rows, columns):
            raise VolumeError("a slice does not match the planned volume")
        volume[:, :, k] = np.asarray(pixels).T
        written += 1
    if written != count:
        raise VolumeError("fewer slices than planned")


def _fill_resampled(volume: np.ndarray, plan: Resampling, slices: Iterator[np.ndarray]) -> None:
    """Each output slice from at most two moved acquired slices, which are read once and
    in order (at most two are held)."""
    columns, rows, _ = volume.shape
    held: dict[int, np.ndarray] = {}
    taken = 0

    def acquired(k: int) -> np.ndarray:
        nonlocal taken
        while taken <= k:
            pixels = next(slices, None)
            if pixels is None:
                raise VolumeError("fewer slices than planned")
            if pixels.shape != plan.source_shape:
                raise VolumeError("a slice does not match the planned volume")
            fill = float(pixels.min())  # outside the acquired field: the darkest value
            held[taken] = shift_image(pixels, *plan.shifts[taken], (rows, columns), fill)
            taken += 1
        return held[k]

    for m, (k, weight) in enumerate(plan.sources):
        value = acquired(k)
        if weight:
            value = (1 - weight) * value + weight * acquired(k + 1)
        for old in [key for key in held if key < k]:
            del held[old]
        volume[:, :, m] = _as_dtype(value, volume.dtype).T
    # The last acquired slice is not read when the even grid ends short of it.
    if taken + sum(1 for _ in slices) != len(plan.shifts):
        raise VolumeError("a slice does not match the planned volume")


def _as_dtype(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


def shift_image(
    image: np.ndarray, rows_by: float, columns_by: float, shape: tuple[int, int], fill: float
) -> np.ndarray:
    """Move an image by a fraction of a pixel onto a (larger) canvas.

    ``out[j, i] = image[j - rows_by, i - columns_by]``, bilinear between the four nearest
    pixels; where that falls outside the image, ``fill``.

    Parameters
    ----------
    image : numpy.ndarray
        (rows, columns) values.
    rows_by, columns_by : float
        The shift, in pixels (any sign).
    shape : tuple of 2 ints
        (rows, columns) of the output.
    fill : float
        Value outside the image.

    Returns
    -------
    numpy.ndarray
        float32 array of `shape`.
    """
    # Within a thousandth of a pixel of a whole shift: the whole shift (no blur).
    rows_by, columns_by = (
        round(v) if abs(v - round(v)) < PIXEL_EPSILON else v for v in (rows_by, columns_by)
    )
    whole_rows, whole_columns = math.floor(rows_by), math.floor(columns_by)
    part_rows, part_columns = rows_by - whole_rows, columns_by - whole_columns
    out = np.zeros(shape, dtype=np.float32)
    for down, row_weight in ((0, 1 - part_rows), (1, part_rows)):
        for right, column_weight in ((0, 1 - part_columns), (1, part_columns)):
            weight = row_weight * column_weight
            if weight > 1e-9:
                out += weight * _placed(
                    image, whole_rows + down, whole_columns + right, shape, fill
                )
    return out


def _placed(
    image: np.ndarray, down: int, right: int, shape: tuple[int, int], fill: float
) -> np.ndarray:
    """``out[j, i] = image[j - down, i - right]`` (whole pixels), ``fill`` elsewhere."""
    out = np.full(shape, fill, dtype=np.float32)
    top, left = max(down, 0), max(right, 0)
    bottom = min(shape[0], image.shape[0] + down)
    end = min(shape[1], image.shape[1] + right)
    if top < bottom and left < end:
        out[top:bottom, left:end] = image[top - down : bottom - down, left - right : end - right]
    return out
