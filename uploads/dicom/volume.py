"""A series as one volume in memory, for multiplanar reformatting (:mod:`uploads.dicom.mpr`).

The geometry is the NIfTI export's (:func:`uploads.dicom.formats.plan_volume`): the slices
of one series must form a stack (one orientation, size and pixel spacing, PS3.3 C.7.6.2
Image Plane module); a gantry-tilted stack has each slice moved in its plane onto the
normal and an unevenly spaced stack is interpolated onto evenly spaced slices, by the same
code that fills the NIfTI file (:func:`~uploads.dicom.formats.fill_volume`). So a coronal
plane of the viewer and the same plane of the exported ``.nii.gz`` are the same numbers.

Voxel (i, j, k) — column, row, slice — has its centre at

    P = S_0 + i·Δc·r + j·Δr·c + k·s          (PS3.3 C.7.6.2.1.1, LPS mm)

:attr:`Volume.affine` is that map as a 4×4 matrix in DICOM's LPS patient space (the
NIfTI affine is the same in RAS). The values are kept as stored (e.g. ``int16``) with one
Rescale Slope/Intercept (C.11.1) when every slice shares it, else as ``float32`` modality
values; a 512×512×300 CT takes 150 MB.

Speed: uncompressed little-endian pixel data is read straight from the file's bytes
(``numpy.frombuffer``); anything else goes through pydicom's decoders.

No Django, no Celery: plain Python + pydicom + numpy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from uploads.dicom.errors import DicomInputError
from uploads.dicom.formats import VolumeError, fill_volume, header_number, lps_to_ras, plan_volume
from uploads.dicom.render import Source, Window, default_window, read_dataset

__all__ = ["Volume", "load_volume", "stored_pixels"]

_NATIVE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}


@dataclass(frozen=True, eq=False)
class Volume:
    """A regular grid of voxels built from one series.

    Attributes
    ----------
    data : numpy.ndarray
        Values indexed ``[k, j, i]`` (slice, row, column), C-contiguous.
    slope, intercept : float
        Modality LUT to apply to `data` (1 and 0 when `data` holds modality values).
    affine : numpy.ndarray
        4×4 map from (i, j, k, 1) to LPS patient coordinates, mm.
    window : Window
        The default window: the middle slice's Window Center/Width, else automatic.
    description : str
        What resampling did, in words ("" when the slices are used as acquired).
    frame_of_reference : str
        Frame of Reference UID (0020,0052) of the series, or "".
    """

    data: np.ndarray
    slope: float
    intercept: float
    affine: np.ndarray
    window: Window
    description: str = ""
    frame_of_reference: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        """(columns, rows, slices): the number of voxels along i, j and k."""
        k, j, i = self.data.shape
        return i, j, k

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along i, j and k, mm."""
        return tuple(float(np.linalg.norm(self.affine[:3, a])) for a in range(3))  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def modality_values(self, stored: np.ndarray) -> np.ndarray:
        """`stored` values of this volume as modality values (e.g. HU), float32."""
        return stored.astype(np.float32) * self.slope + self.intercept


def stored_pixels(ds: Dataset) -> np.ndarray:
    """The (rows, columns) stored values of a single-frame greyscale image.

    Native little-endian pixel data is viewed in place (PS3.5 8.1.1: rows of columns,
    no padding between frames); compressed data is decoded by pydicom.
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    bits = int(ds.get("BitsAllocated", 16))
    tsuid = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if tsuid in _NATIVE and bits in (8, 16) and "PixelData" in ds:
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        dtype = np.dtype(f"{'<i' if signed else '<u'}{bits // 8}")
        raw = ds.PixelData
        if len(raw) >= rows * columns * dtype.itemsize:
            pixels = np.frombuffer(raw, dtype=dtype, count=rows * columns).reshape(rows, columns)
            stored_bits = int(ds.get("BitsStored", bits))
            if stored_bits == bits:
                return pixels
    try:
        return np.asarray(ds.pixel_array)
    except Exception as exc:  # decoders raise many types; all mean "cannot decode"
        raise DicomInputError("the pixel data cannot be decoded") from exc


def load_volume(sources: Sequence[Source]) -> Volume:
    """Read a series' images and build its volume.

    Parameters
    ----------
    sources : sequence of DICOM sources (bytes, paths, file objects or datasets)
        The single-frame images of one series, any order.

    Returns
    -------
    Volume

    Raises
    ------
    VolumeError
        When the images do not form a stack (the message says why, in plain words).
    DicomInputError
        When an image cannot be read.
    """
    datasets = [read_dataset(s) for s in sources]
    plan = plan_volume(datasets)
    float_values = plan.slope is None
    dtype = np.dtype(np.float32) if float_values else plan.dtype
    grid = np.empty(plan.shape, dtype=dtype, order="F")  # (i, j, k), as the NIfTI file

    def values() -> Iterator[np.ndarray]:
        for n in plan.order:
            pixels = stored_pixels(datasets[n])
            if float_values:
                ds = datasets[n]
                slope = header_number(ds, "RescaleSlope", 1.0)
                intercept = header_number(ds, "RescaleIntercept", 0.0)
                pixels = pixels.astype(np.float32) * slope + intercept
            yield pixels

    fill_volume(grid, plan, values())
    data = grid.T  # [k, j, i], C-contiguous
    middle = datasets[plan.order[len(plan.order) // 2]]
    window = default_window(middle, stored_pixels(middle))  # as the slice viewer's
    return Volume(
        data=data,
        slope=1.0 if float_values else float(plan.slope or 1.0),
        intercept=0.0 if float_values else float(plan.intercept or 0.0),
        affine=lps_to_ras(plan.affine),  # the NIfTI affine is RAS; LPS is its mirror
        window=window,
        description=plan.description,
        frame_of_reference=str(middle.get("FrameOfReferenceUID", "")),
    )


def check_volume_size(count: int, rows: int, columns: int, limit: int) -> None:
    """Refuse a volume of more than `limit` voxels before reading it."""
    if count * rows * columns > limit:
        raise VolumeError(
            f"this series is too large to reformat here ({count} images of {columns}×{rows} pixels)"
        )
