"""Whose data set this is: the identity the pseudonym and date shift are keyed from, and
whether the data set is this engine's own output already."""

from __future__ import annotations

import re

from pydicom.dataset import Dataset

from uploads.dicom.constants import PSEUDONYM_LENGTH, PSEUDONYM_PREFIX, TAGS
from uploads.dicom.deid.elements import text
from uploads.dicom.uids import is_issued_uid

PATIENT_NAME = TAGS["PatientName"]
PATIENT_ID = TAGS["PatientID"]
SOP_CLASS_UID = TAGS["SOPClassUID"]
SOP_INSTANCE_UID = TAGS["SOPInstanceUID"]
STUDY_UID = TAGS["StudyInstanceUID"]
SERIES_UID = TAGS["SeriesInstanceUID"]
_PATIENT_BIRTH_DATE = TAGS["PatientBirthDate"]
#: A pseudonym this engine makes (:func:`uploads.dicom.uids.patient_pseudonym`).
PSEUDONYM_RE = re.compile(rf"^{re.escape(PSEUDONYM_PREFIX)}[A-Z2-7]{{{PSEUDONYM_LENGTH}}}$")


def patient_identity(ds: Dataset) -> str:
    """The original identity the pseudonym and date shift are keyed from.

    The Patient ID when present; otherwise Patient's Name and Birth Date; otherwise the
    Study Instance UID (so unrelated studies without any patient identity are not merged
    into one "patient"); otherwise the SOP Instance UID.
    """
    patient_id = text(ds, PATIENT_ID)
    if patient_id:
        return f"id:{patient_id}"
    name, birth = text(ds, PATIENT_NAME), text(ds, _PATIENT_BIRTH_DATE)
    if name or birth:
        return f"name:{name}|{birth}"
    study = text(ds, STUDY_UID)
    return f"study:{study}" if study else f"sop:{text(ds, SOP_INSTANCE_UID)}"


def issued_here(ds: Dataset, key: bytes, uid_root: str, uid_scope: str) -> bool:
    """True for a data set this engine already de-identified under the same owned root,
    key and scope.

    All three must hold: the SOP Instance UID was issued here (its check digits verify,
    :func:`uploads.dicom.uids.is_issued_uid`), Patient ID and Patient's Name are the
    same pseudonym, and Patient Identity Removed is YES.
    """
    patient_id = text(ds, PATIENT_ID)
    return (
        is_issued_uid(text(ds, SOP_INSTANCE_UID), key=key, root=uid_root, scope=uid_scope)
        and bool(PSEUDONYM_RE.match(patient_id))
        and text(ds, PATIENT_NAME) == patient_id
        and text(ds, TAGS["PatientIdentityRemoved"]).upper() == "YES"
    )
