"""What the study index needs from one (de-identified) instance, and the input limits.

PS3.3 C.7.2 (General Study), C.7.3 (General Series), C.7.6.1 (General Image),
C.7.6.2 (Image Plane), C.7.6.3 (Image Pixel), C.7.6.6 (Multi-frame).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pydicom.dataset import Dataset

from uploads.dicom.errors import DicomInputError
from uploads.dicom.series import slice_normal
from uploads.dicom.uids import is_valid_uid
from uploads.dicom.values import floats

#: Largest image accepted: rows × columns × frames × samples per pixel.
MAX_PIXEL_VALUES = 2**31
#: Age String (PS3.5 §6.2): three digits and D, W, M or Y.
AGE = re.compile(r"\d{3}[DWMY]")
#: Largest side of one frame (DICOM allows 65535).
MAX_SIDE = 32768


@dataclass(frozen=True)
class InstanceIndex:
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    modality: str
    study_date: dt.date | None
    study_description: str
    series_description: str
    series_number: int | None
    body_part: str
    instance_number: int | None
    rows: int
    columns: int
    frames: int
    has_pixels: bool
    slice_position: float | None
    pixel_spacing: tuple[float, float] | None
    # Kept by the profile's "retain patient characteristics" option (else absent): the
    # radiologist's header shows them. Only well-formed values (PS3.5 §6.2 CS and AS).
    patient_sex: str = ""
    patient_age: str = ""


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None or value == "":
        return ""
    return str(value).strip()[:255]


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _date(value: object) -> dt.date | None:
    text = str(value or "").strip()
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


def slice_position(ds: Dataset) -> float | None:
    """Distance of the slice along its normal: ImagePositionPatient · (row × column).

    PS3.3 C.7.6.2.1.1: ImageOrientationPatient holds the row and column direction cosines;
    their cross product is the slice normal.
    """
    position = floats(ds.get("ImagePositionPatient"), 3)
    normal = slice_normal(floats(ds.get("ImageOrientationPatient"), 6) or ())
    if position is None or normal is None:
        return None
    return float(sum(p * n for p, n in zip(position, normal, strict=True)))


def index_dataset(ds: Dataset) -> InstanceIndex:
    """Read the index fields; raise DicomInputError when a required UID is missing or a
    value cannot be read at all (a wrong VR or length: pydicom raises on conversion)."""
    try:
        return _index_dataset(ds)
    except DicomInputError:
        raise
    except Exception as exc:
        raise DicomInputError(
            f"not usable: damaged attribute values ({type(exc).__name__})"
        ) from None


def _index_dataset(ds: Dataset) -> InstanceIndex:
    missing = [
        kw
        for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
        if not _text(ds, kw)
    ]
    if missing:
        raise DicomInputError(f"not usable: the file has no {', '.join(missing)}")
    meta = getattr(ds, "file_meta", None)
    transfer_syntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    # Identifiers go into the index as they are: each must be a UID (PS3.5 9.1). After
    # de-identification the instance UIDs always are; the SOP Class and transfer syntax
    # are the sender's.
    invalid = [
        kw
        for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
        if not is_valid_uid(_text(ds, kw))
    ]
    if transfer_syntax and not is_valid_uid(transfer_syntax):
        invalid.append("TransferSyntaxUID")
    if invalid:
        raise DicomInputError(
            f"not usable: its identifiers are not valid DICOM UIDs ({', '.join(invalid)})"
        )
    spacing = None
    try:
        if "PixelSpacing" in ds and len(ds.PixelSpacing) == 2:
            spacing = (float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1]))
    except (TypeError, ValueError):
        spacing = None
    return InstanceIndex(
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        sop_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        transfer_syntax=transfer_syntax,
        modality=_text(ds, "Modality")[:16],
        study_date=_date(ds.get("StudyDate")),
        study_description=_text(ds, "StudyDescription"),
        series_description=_text(ds, "SeriesDescription"),
        series_number=_int(ds, "SeriesNumber"),
        body_part=_text(ds, "BodyPartExamined")[:64],
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows") or 0,
        columns=_int(ds, "Columns") or 0,
        frames=_int(ds, "NumberOfFrames") or 1,
        has_pixels=any(
            tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
        ),
        slice_position=slice_position(ds),
        pixel_spacing=spacing,
        patient_sex=sex if (sex := _text(ds, "PatientSex").upper()) in {"M", "F", "O"} else "",
        patient_age=age if AGE.fullmatch(age := _text(ds, "PatientAge")) else "",
    )


def check_limits(index: InstanceIndex, samples_per_pixel: int = 1) -> None:
    """Refuse images whose declared size is beyond what the portal will decode."""
    if not index.has_pixels:
        return
    if index.rows <= 0 or index.columns <= 0:
        raise DicomInputError("not usable: the image has no rows or columns")
    if index.rows > MAX_SIDE or index.columns > MAX_SIDE:
        raise DicomInputError(
            f"image too large: {index.columns}×{index.rows} pixels (limit {MAX_SIDE} a side)"
        )
    total = index.rows * index.columns * max(index.frames, 1) * max(samples_per_pixel, 1)
    if total > MAX_PIXEL_VALUES:
        raise DicomInputError(f"image too large: {total} pixel values (limit {MAX_PIXEL_VALUES})")
