"""De-identification of DICOM data sets: PS3.15 Annex E, Basic Application Level
Confidentiality Profile (E.1.1) with options (E.3).

One walk over the data set applies Table E.1-1 (see :mod:`uploads.dicom.profile`) to
every element, recursing into sequence items. Pixel data is never decoded or
re-encoded: encapsulated (compressed) Pixel Data is written back byte for byte.

What each action does here (details and rationale in ``docs/deidentification.md``):

=========  ==============================================================================
``X``      remove the element (also every curve group 50xx and overlay group 60xx).
``Z``      zero-length value (empty sequence for SQ).
``D``      a dummy of the same VR (``ANONYMIZED``, ``19000101``, ``0`` ...); UI values are
           remapped instead; a D *sequence* keeps its items, applies the table inside and
           replaces free text (LT, ST, UT, UC, PN) not listed in the table.
``K``      keep (sequences are still walked).
``C``      clean: descriptors keep their text minus every occurrence of the patient's
           names and identifiers; a C sequence cleans all text inside it; binary values
           (Maker Note) cannot be cleaned and are emptied. Dates under Retain
           Longitudinal Temporal Information with Modified Dates are *shifted*.
``U``      keyed UID remap (:func:`uploads.dicom.uids.remap_uid`).
=========  ==============================================================================

Patient's Name and Patient ID (anywhere in the data set) become the same keyed
pseudonym; private elements are removed except the safe allow-list; the File Meta
Information is rebuilt; PatientIdentityRemoved, DeidentificationMethod(+CodeSequence)
and LongitudinalTemporalInformationModified are set (PS3.15 E.1.1 item 6, PS3.3 C.7.1.1).

This module is the engine's public face: the code is in :mod:`uploads.dicom.deid`, one
purpose a module (its docstring lists them); import from here.
"""

from __future__ import annotations

from uploads.dicom.constants import (
    ALWAYS_REVIEW_SOP_CLASSES,
    REVIEW_UNLESS_NO_MODALITIES,
    engine_constants,
)
from uploads.dicom.deid.engine import (
    deidentify,
    deidentify_bytes,
    deidentify_encoded,
    deidentify_file,
)
from uploads.dicom.deid.identity import patient_identity
from uploads.dicom.deid.names import name_parts, names_in_file, person_names
from uploads.dicom.deid.options import DeidOptions
from uploads.dicom.deid.results import DeidAction, DeidResult
from uploads.dicom.deid.review import pixel_review
from uploads.dicom.uids import DEFAULT_UID_ROOT

__all__ = [
    "ALWAYS_REVIEW_SOP_CLASSES",
    "DEFAULT_UID_ROOT",
    "REVIEW_UNLESS_NO_MODALITIES",
    "DeidAction",
    "DeidOptions",
    "DeidResult",
    "deidentify",
    "deidentify_bytes",
    "deidentify_encoded",
    "deidentify_file",
    "engine_constants",
    "name_parts",
    "names_in_file",
    "patient_identity",
    "person_names",
    "pixel_review",
]
