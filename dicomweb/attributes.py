"""The DICOM JSON model (PS3.18 F.2) of stored instances, and the attributes each QIDO-RS
level returns (PS3.18 Table 10.6.3-3 to -5).

Headers are read from the stored, de-identified files through Django's storage API (never
from what a client sent) and kept in :class:`dicomweb.models.InstanceHeader`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pydicom
from django.core.files.storage import default_storage
from django.db import DatabaseError
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from dicomweb.models import InstanceHeader
from uploads.models import Instance

log = logging.getLogger(__name__)

#: Binary values larger than this are left out of the JSON (Pixel Data always is; WADO-RS
#: metadata points at the frames instead).
INLINE_BINARY_MAX = 64 * 1024
BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}

STUDY = [
    "SpecificCharacterSet", "StudyDate", "StudyTime", "AccessionNumber",
    "ReferringPhysicianName", "TimezoneOffsetFromUTC", "PatientName", "PatientID",
    "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "StudyDescription",
]  # fmt: skip
SERIES = [
    "Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
]  # fmt: skip
INSTANCE = [
    "SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns", "BitsAllocated",
    "NumberOfFrames",
]  # fmt: skip


def tag_of(name: str) -> str:
    """``GGGGEEEE`` for a keyword or a tag (``00100020``, ``0010,0020``); "" if unknown."""
    text = name.strip().replace(",", "").upper()
    if len(text) == 8 and all(c in "0123456789ABCDEF" for c in text):
        return text
    tag = tag_for_keyword(name.strip())
    return f"{tag:08X}" if tag is not None else ""


def vr_of(tag: str) -> str:
    try:
        return str(dictionary_VR(int(tag, 16)))
    except KeyError:
        return "UN"


def keyword_of(tag: str) -> str:
    return keyword_for_tag(int(tag, 16)) or tag


def element(keyword: str, values: list[Any]) -> tuple[str, dict[str, Any]]:
    tag = tag_of(keyword)
    item: dict[str, Any] = {"vr": vr_of(tag)}
    if values:
        item["Value"] = values
    return tag, item


def tags(keywords: Iterable[str]) -> list[str]:
    return [tag_of(keyword) for keyword in keywords]


# -- headers of stored instances ------------------------------------------------------------


def read_header(instance: Instance) -> dict[str, Any]:
    """The DICOM JSON of the stored file's header (no Pixel Data, no large binary values)."""
    with default_storage.open(instance.file, "rb") as handle:
        ds = pydicom.dcmread(handle, stop_before_pixels=True, force=True)
    for elem in list(ds):
        large = elem.VR in BINARY_VRS and len(elem.value or b"") > INLINE_BINARY_MAX
        if large or (elem.tag.is_private and elem.VR in BINARY_VRS):
            del ds[elem.tag]
    return dict(ds.to_json_dict(bulk_data_threshold=INLINE_BINARY_MAX + 1,
                                suppress_invalid_tags=True))  # fmt: skip


def from_index(instance: Instance) -> dict[str, Any]:
    """What the index knows, for an instance whose file cannot be read now."""
    series, study = instance.series, instance.series.study
    values: dict[str, list[Any]] = {
        "StudyInstanceUID": [study.study_instance_uid],
        "PatientID": [study.patient_pseudonym] if study.patient_pseudonym else [],
        "StudyDate": [study.study_date.strftime("%Y%m%d")] if study.study_date else [],
        "SeriesInstanceUID": [series.series_instance_uid],
        "Modality": [series.modality] if series.modality else [],
        "SeriesNumber": [series.number] if series.number is not None else [],
        "SOPClassUID": [instance.sop_class_uid],
        "SOPInstanceUID": [instance.sop_instance_uid],
        "InstanceNumber": [instance.instance_number] if instance.instance_number else [],
        "Rows": [instance.rows],
        "Columns": [instance.columns],
    }
    return dict(element(keyword, value) for keyword, value in values.items())


def headers(instances: list[Instance]) -> dict[int, dict[str, Any]]:
    """The header of each instance (by id): kept copies, the rest read once and kept."""
    files = {instance.pk: instance.file for instance in instances}
    found = {
        row.instance_id: row.dataset
        for row in InstanceHeader.objects.filter(instance__in=list(files))
        if row.file == files[row.instance_id]  # else the instance's file changed: read again
    }
    new = []
    for instance in instances:
        if instance.pk in found:
            continue
        try:
            dataset = read_header(instance)
        except Exception as exc:  # storage away, file damaged: answer from the index
            log.warning("header of instance %s not read (%s)", instance.pk, type(exc).__name__)
            found[instance.pk] = from_index(instance)
            continue
        found[instance.pk] = dataset
        new.append(InstanceHeader(instance=instance, file=instance.file, dataset=dataset))
    if new:
        try:
            InstanceHeader.objects.bulk_create(new, ignore_conflicts=True)
        except DatabaseError as exc:  # only a copy: the answer does not need it
            log.warning("headers not kept (%s)", type(exc).__name__)
    return found


def header(instance: Instance) -> dict[str, Any]:
    return headers([instance])[instance.pk]
