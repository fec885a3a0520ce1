"""A research cohort list (original Patient IDs with, e.g., ICD-10 codes) matched to the
portal's pseudonymised studies, without storing or printing an original ID.

The portal keeps no original Patient ID. It can still tell which pseudonym a listed
patient has, because pseudonyms are keyed HMACs (``uploads/dicom/uids.py``):

* files imported on the server (``import_dicom``, the DICOM receiver, server-only
  uploads) get ``pseudonym(id, server key)``;
* files de-identified in the browser first got ``pseudonym(id, the uploader's key)``,
  which the server then pseudonymised again with its own key.

So for each listed ID both candidates are computed (the second per uploader) and
looked up among the studies' pseudonyms. The list is read in memory only.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from uploads.dicom.uids import patient_pseudonym
from uploads.intake.keys import server_key, uploader_key
from uploads.models import Study

#: The column of the cohort CSV with the original Patient ID (0010,0020).
ID_COLUMN = "patient_id"


class CohortError(ValueError):
    """The cohort file cannot be used (the message says why; it quotes no ID)."""


@dataclass(frozen=True)
class Cohort:
    """The listed patients' extra columns (e.g. ``icd10``), by original ID."""

    columns: list[str]
    rows: dict[str, dict[str, str]]


def read_cohort(text: str) -> Cohort:
    """Parse a cohort CSV: a ``patient_id`` column and any others, one row per patient."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = [name.strip() for name in reader.fieldnames or []]
    if ID_COLUMN not in fields:
        raise CohortError(f"the cohort file needs a {ID_COLUMN} column")
    columns = [name for name in fields if name != ID_COLUMN]
    rows: dict[str, dict[str, str]] = {}
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        patient = row.pop(ID_COLUMN, "")
        if not patient:
            raise CohortError(f"line {line}: no {ID_COLUMN}")
        if patient in rows:
            raise CohortError(f"line {line}: the same {ID_COLUMN} twice")
        rows[patient] = {name: row.get(name, "") for name in columns}
    return Cohort(columns=columns, rows=rows)


def match(cohort: Cohort, studies: list[Study]) -> dict[int, str]:
    """Study id → the listed patient's original ID (in memory only), for the studies of
    listed patients."""
    key = server_key()
    direct = {patient_pseudonym(f"id:{p}", key=key): p for p in cohort.rows}
    by_owner: dict[int, dict[str, str]] = {}
    found: dict[int, str] = {}
    for study in studies:
        pseudonym = study.patient_pseudonym
        patient = direct.get(pseudonym)
        if patient is None:
            if study.owner_id not in by_owner:
                browser = uploader_key(study.owner_id)
                by_owner[study.owner_id] = {
                    patient_pseudonym(f"id:{patient_pseudonym(f'id:{p}', key=browser)}", key=key): p
                    for p in cohort.rows
                }
            patient = by_owner[study.owner_id].get(pseudonym)
        if patient is not None:
            found[study.pk] = patient
    return found
