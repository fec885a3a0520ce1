"""The rules and limits of the de-identification engine, as data, defined once.

Two engines apply PS3.15 Annex E: this package on the server and
``frontend/src/deid-engine.js`` (its modules in ``frontend/src/deid/``) in the uploader's
browser (with ``frontend/src/files.js`` for ZIP archives). Everything both must agree
on -- action codes and how a row's action is resolved, dummies, date-shift and pseudonym
parameters, HMAC labels, the tags that identify the patient, pixel-review rules, messages,
ZIP limits -- is defined here and nowhere else. The Python modules import these names;
the browser gets :func:`engine_constants` at build time::

    python -m uploads.dicom.constants --write frontend/src/generated/engine-constants.js

``frontend/build.mjs`` runs that (with ``.venv/bin/python`` when there is one) before
esbuild bundles; the generated module is committed so that a build without Python (the
Docker image's Node stage) uses it as it is, and ``tests/frontend/test_engine_constants.py``
fails when it is stale. ``GET /api/deid/profile/`` serves the same dictionary as
``engine``.

Rules expressed as data (the JS interprets them, it does not restate them):

* :data:`RESOLUTION` -- the single action of a Table E.1-1 row under the enabled option
  columns: translate each enabled column's code (:data:`OPTION_CODE_MEANINGS`: ``C``
  under Modified Dates is the date shift), take the most protective
  (:data:`PROTECTIVE_ORDER`); with no enabled column, the Basic Profile code with its
  conditional codes resolved (:data:`CONDITIONAL_ACTIONS`).
* :data:`PIXEL_REVIEW_RULES` -- why pixels need a human look, first match wins.

Pure: standard library only (no pydicom, Django or Celery), so any Python can run it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "ALWAYS_REVIEW_SOP_CLASSES",
    "BROWSER_IMPLEMENTATION_VERSION_NAME",
    "BROWSER_MAX_TOTAL_UNCOMPRESSED",
    "DEFAULT_UID_ROOT",
    "GENERATED_JS",
    "IDENTIFYING_WORD_TAGS",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "MAX_ARCHIVE_ENTRIES",
    "MAX_COMPRESSION_RATIO",
    "MAX_ENTRY_SIZE",
    "MAX_SHIFT_DAYS",
    "MAX_TOTAL_UNCOMPRESSED",
    "MAX_ZIP_DEPTH",
    "PIXEL_REVIEW_RULES",
    "RATIO_CHECK_MIN_SIZE",
    "REVIEW_UNLESS_NO_MODALITIES",
    "WORD_MATCHING",
    "ReviewRule",
    "engine_constants",
    "render_js",
]

# -- Table E.1-1 actions and their resolution (uploads/dicom/profile.py) -------------------

#: Effective (single) actions a compiled row has.
REMOVE = "X"
EMPTY = "Z"
DUMMY = "D"
KEEP = "K"
CLEAN = "C"
SHIFT = "S"
UID = "U"
UID_SEQUENCE = "U*"

#: Conditional Basic Profile codes resolved without IOD knowledge to the alternative that
#: keeps the data set conformant whatever the attribute's Type (PS3.15 Table E.1-1a).
CONDITIONAL_ACTIONS = {
    "X/Z": EMPTY,
    "X/D": DUMMY,
    "Z/D": DUMMY,
    "X/Z/D": DUMMY,
    "X/Z/U*": UID_SEQUENCE,
}
#: What an option column's code means when it is not the code itself: ``C`` of Retain
#: Longitudinal Temporal Information with Modified Dates is the date shift.
DATES_COLUMN = "retain_long_modified_dates"
OPTION_CODE_MEANINGS = {DATES_COLUMN: {CLEAN: SHIFT}}
#: Among the (translated) actions of several enabled option columns the first of these
#: wins: remove over shift over clean over keep (E.3: the most protective).
PROTECTIVE_ORDER = (REMOVE, SHIFT, CLEAN, KEEP)

# -- what the engines report (DeidAction.action) --------------------------------------------

REMOVED = "removed"
EMPTIED = "emptied"
REPLACED = "replaced"
UID_REMAPPED = "uid-remapped"
DATE_SHIFTED = "date-shifted"
CLEANED = "cleaned"
KEPT_SAFE_PRIVATE = "kept-safe-private"
ADDED = "added"
REPORT_ACTIONS = (
    REMOVED,
    EMPTIED,
    REPLACED,
    UID_REMAPPED,
    DATE_SHIFTED,
    CLEANED,
    KEPT_SAFE_PRIVATE,
    ADDED,
)

# -- options and De-identification Method (PS3.16 CID 7050) ---------------------------------

#: Option name -> (Table E.1-1 column key, CID 7050 code, code meaning), in the order of
#: the De-identification Method values (``DeidOptions`` declares its fields in this order).
OPTION_INFO: dict[str, tuple[str, str, str]] = {
    "retain_patient_characteristics": (
        "retain_patient_characteristics",
        "113108",
        "Retain Patient Characteristics Option",
    ),
    "retain_longitudinal_modified_dates": (
        DATES_COLUMN,
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "retain_device_identity": ("retain_device_identity", "113109", "Retain Device Identity Option"),
    "retain_institution_identity": (
        "retain_institution_identity",
        "113112",
        "Retain Institution Identity Option",
    ),
    "clean_descriptors": ("clean_descriptors", "113105", "Clean Descriptors Option"),
    "retain_safe_private": ("retain_safe_private", "113111", "Retain Safe Private Option"),
}
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
#: Added to De-identification Method Code Sequence when regions of the pixels were
#: blacked out (PS3.15 E.3.1 Clean Pixel Data Option), and only then.
CLEAN_PIXEL_CODE = ("113101", "Clean Pixel Data Option")
#: First De-identification Method value; ``{edition}`` is the table's edition.
METHOD_TEMPLATE = "PS3.15 {edition} Basic Application Confidentiality Profile"
#: Longest LO value (PS3.5 6.2): De-identification Method values are cut to it.
LO_MAX_LENGTH = 64
CODING_SCHEME = "DCM"

# -- dummies, text, dates, private elements --------------------------------------------------

#: Text replacing free text (and the dummy of every text VR not in TEXT_DUMMIES).
DUMMY_TEXT_VALUE = "ANONYMIZED"
TEXT_DUMMIES = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000D",
    "DS": "0",
    "IS": "0",
    # A valid URI (RFC 3986) under the reserved .invalid domain (RFC 2606): D needs a
    # non-zero length value (PS3.15 Table E.1-1a), e.g. for Selector UR Value.
    "UR": "http://example.invalid/",
}
NUMBER_DUMMIES: dict[str, int | float] = {
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "UV": 0,
    "SV": 0,
    "FL": 0.0,
    "FD": 0.0,
    "AT": 0,
}
#: Binary VR -> how many zero bytes its dummy has.
ZERO_BYTES_DUMMIES = {"OB": 2, "OW": 2, "UN": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
#: Free text replaced inside a D (dummy) sequence when the table does not list it.
FREE_TEXT_VRS = frozenset({"LT", "ST", "UT", "UC", "PN"})
#: Text that Clean Descriptors can clean (other VRs under C are emptied).
CLEANABLE_VRS = frozenset({"AE", "CS", "LO", "SH", "LT", "ST", "UT", "UC", "PN"})
#: Names and identifiers shorter than this are not cut out of descriptors.
MIN_TOKEN = 3
#: How a name is split into the tokens cut out of descriptors.
NAME_SPLIT_PATTERN = r"[\^=,\s]+"
#: Every person's name found in an upload or study (any PN value, nested ones included)
#: is cut out of kept descriptors as whole words (case-insensitive), the same matching
#: as for text found in the pixels: its family, given and middle name components
#: (PS3.5 6.2.1; prefixes and suffixes such as "Dr" are not names), each component
#: whole and split into words at these characters, words of at least this length.
NAME_PART_COMPONENTS = 3
NAME_WORD_SPLIT_PATTERN = r"[\s,.\-]+"
MIN_NAME_PART = 2

#: Days a patient's dates move back at most (the shift is -1 .. -MAX_SHIFT_DAYS).
MAX_SHIFT_DAYS = 3650
DA_PATTERN = r"^(\d{4})(\d{2})(\d{2})$"
DT_PATTERN = r"^(\d{4})(\d{2})(\d{2})(\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?([+-]\d{4})?$"
#: A Timezone Offset From UTC kept as it is under the date shift.
TIMEZONE_PATTERN = r"^[+-]\d{4}$"

#: Values an allow-listed private text element (DS, IS, SH) may hold: numbers only.
SAFE_PRIVATE_TEXT_PATTERN = r"^[0-9eE+\-.:/ \\]*$"
SAFE_PRIVATE_TEXT_VRS = ("DS", "IS", "SH")
#: Binary VR -> size of one value, to check an allow-listed element read as UN.
BINARY_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8}

#: Every VR of PS3.5 6.2 (tells explicit from implicit VR in a file without meta).
# fmt: off
VRS = (
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF",
    "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN",
    "UR", "US", "UT", "UV",
)
# fmt: on

# -- tags ------------------------------------------------------------------------------------

TAGS = {
    "PatientName": 0x00100010,
    "PatientID": 0x00100020,
    "PatientBirthDate": 0x00100030,
    "OtherPatientIDsSequence": 0x00101002,
    "TimezoneOffsetFromUTC": 0x00080201,
    "SOPClassUID": 0x00080016,
    "SOPInstanceUID": 0x00080018,
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "Modality": 0x00080060,
    "BurnedInAnnotation": 0x00280301,
    "RecognizableVisualFeatures": 0x00280302,
    "PatientIdentityRemoved": 0x00120062,
    "DeidentificationMethod": 0x00120063,
    "DeidentificationMethodCodeSequence": 0x00120064,
    "LongitudinalTemporalInformationModified": 0x00280303,
    "DirectoryRecordSequence": 0x00041220,
}
#: Patient's Name, Other Patient Names, Patient's Birth Name, Patient's Mother's Birth
#: Name: their words are cut out of descriptors.
NAME_TAGS = (TAGS["PatientName"], 0x00101001, 0x00101005, 0x00101060)
#: Patient ID, Other Patient IDs, Accession Number, Medical Record Locator, Birth Date.
ID_TAGS = (TAGS["PatientID"], 0x00101000, 0x00080050, 0x00101090, TAGS["PatientBirthDate"])
#: Curve data (50xx) and overlay planes (60xx): removed whole (``group & mask``).
REMOVED_GROUP_MASK = 0xFF00
REMOVED_GROUPS = (0x5000, 0x6000)

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"

# -- UIDs, pseudonym, keyed digests (uploads/dicom/uids.py) ---------------------------------

#: UUID-derived UIDs (PS3.5 B.2): no registration needed, collision-free in practice.
DEFAULT_UID_ROOT = "2.25"
#: Longest UID (PS3.5 9.1).
UID_MAX_LENGTH = 64
#: Digits of the keyed check at the end of a UID issued under an owned root (1 in 10^10
#: that a UID issued for another scope, or made up, passes).
CHECK_DIGITS = 10
#: Digits an owned root must leave for the UID's body (about 66 bits).
MIN_BODY_DIGITS = 30
#: This engine's Implementation Class UID (PS3.7 D.3.3.2), a fixed 2.25 UUID UID; the
#: browser writes the same one.
IMPLEMENTATION_CLASS_UID = "2.25.171586514918853302742840780393709381850"
#: Implementation Version Name written in the File Meta Information (SH, at most 16): the
#: server's and the browser's differ, so a file tells which engine wrote it.
IMPLEMENTATION_VERSION_NAME = "DICOMPORTAL_DEID"
BROWSER_IMPLEMENTATION_VERSION_NAME = "DICOMPORTAL_JS"
#: Labels of HMAC(key, label + 0x00 + UTF-8 value), one per use (domain separation).
UID_LABEL = "uid"
UID_ISSUED_LABEL = "uid-issued"
PATIENT_LABEL = "patient"
DATE_SHIFT_LABEL = "dateshift"
#: The pseudonym in Patient ID and Patient's Name: this prefix and base-32 characters.
PSEUDONYM_PREFIX = "PSN-"
PSEUDONYM_LENGTH = 10

# -- pixel review ----------------------------------------------------------------------------

#: SOP classes whose pixels are a screen or document capture: always reviewed, whatever
#: Burned In Annotation says (Secondary Capture family, PS3.4 B.5; encapsulated PDF/CDA).
ALWAYS_REVIEW_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
        "1.2.840.10008.5.1.4.1.1.104.1",
        "1.2.840.10008.5.1.4.1.1.104.2",
    }
)
#: Modalities whose devices commonly burn patient text (or show faces) into the pixels:
#: reviewed unless Burned In Annotation (0028,0301) says NO, which is trusted for them.
REVIEW_UNLESS_NO_MODALITIES = frozenset(
    {"US", "IVUS", "ES", "XC", "GM", "OP", "OT", "SC", "XA", "RF", "DX", "CR", "MG", "PX", "IO"}
)


class ReviewRule(NamedTuple):
    """Pixels need review when the upper-cased text of ``tag`` is one of ``values``,
    unless that of ``unless_tag`` is one of ``unless_values``; ``{value}`` in ``reason``
    is the value found."""

    tag: int
    values: frozenset[str]
    reason: str
    unless_tag: int | None = None
    unless_values: frozenset[str] = frozenset()


#: First match wins; then an overlay group without Overlay Data (OVERLAY_REVIEW_REASON).
PIXEL_REVIEW_RULES = (
    ReviewRule(
        TAGS["BurnedInAnnotation"],
        frozenset({"YES"}),
        "Burned In Annotation is YES: text is drawn into the pixels",
    ),
    ReviewRule(
        TAGS["RecognizableVisualFeatures"],
        frozenset({"YES"}),
        "Recognizable Visual Features is YES: the image may show a face",
    ),
    ReviewRule(
        TAGS["SOPClassUID"],
        ALWAYS_REVIEW_SOP_CLASSES,
        "secondary capture or document: captured content may show patient text",
    ),
    ReviewRule(
        TAGS["Modality"],
        REVIEW_UNLESS_NO_MODALITIES,
        "modality {value} often has burned-in text and Burned In Annotation is not NO",
        unless_tag=TAGS["BurnedInAnnotation"],
        unless_values=frozenset({"NO"}),
    ),
)
#: An overlay group (even 6000-601E: ``group & OVERLAY_GROUP_MASK == OVERLAY_GROUP``)
#: without Overlay Data (60xx,3000): the overlay lives in unused bits of Pixel Data,
#: which neither engine alters.
OVERLAY_GROUP_MASK = 0xFF01
OVERLAY_GROUP = 0x6000
OVERLAY_DATA_ELEMENT = 0x3000
OVERLAY_REVIEW_REASON = "overlay stored in unused bits of Pixel Data (not removed)"

# -- messages both engines give (they quote no value of the file) ---------------------------

MESSAGES = {
    "dicomdir": "CD index (DICOMDIR): used only to find the images",
    "no_sop_uids": "not a usable DICOM object: it has no SOP Class or SOP Instance UID",
    "empty_key": "a non-empty de-identification key is required",
    "truncated_element": "not readable: the file is truncated (it ends inside an element)",
}

# -- ZIP archives (uploads/dicom/sources.py, frontend/src/files.js) -------------------------

#: Most entries one archive (including nested ones) may list.
MAX_ARCHIVE_ENTRIES = 50_000
#: Largest single file, in an archive or on disk (bytes).
MAX_ENTRY_SIZE = 2 * 1024**3
#: Most bytes all archives of one input may expand to.
MAX_TOTAL_UNCOMPRESSED = 16 * 1024**3
#: The same bound in the browser, lower for a reason of memory: the server reads one
#: entry at a time and writes it out, but the browser (fflate's ``unzip``) inflates every
#: accepted entry of an archive into memory at once and the page holds them until they are
#: de-identified and sent. A tab that runs out of memory is killed with everything the
#: uploader chose, so the browser stops at a quarter of the server's bound.
BROWSER_MAX_TOTAL_UNCOMPRESSED = 4 * 1024**3
#: Highest uncompressed/compressed ratio accepted for an entry of at least
#: :data:`RATIO_CHECK_MIN_SIZE` bytes (real DICOM rarely exceeds 20:1; DEFLATE's
#: maximum is about 1030:1, which is what a run of zeros gives).
MAX_COMPRESSION_RATIO = 200
#: Entries smaller than this are not ratio-checked (tiny files compress very well).
RATIO_CHECK_MIN_SIZE = 1024**2
#: An archive inside an archive is opened; one inside that is opened too; deeper is not
#: (the outermost archive is level 1).
MAX_ZIP_DEPTH = 2

# -- the dictionary for the browser ----------------------------------------------------------

#: The generated module, relative to the repository root.
#: The header values whose words are looked for in the pixels (PS3.15 E.3.1; PS3.15 Table
#: E.1-1 lists all of them as identifying), by kind: person names (split into parts),
#: identifiers and the institution (whole and word by word), dates (written the common
#: ways). ``words.identifying_words`` reads them from a data set; the upload page's
#: browser engine collects the same ones for the server's OCR preview (docs/burned-in-text.md).
IDENTIFYING_WORD_TAGS: dict[str, dict[str, int]] = {
    "names": {
        "PatientName": 0x00100010,
        "OtherPatientNames": 0x00101001,
        "PatientBirthName": 0x00101005,
        "PatientMotherBirthName": 0x00101060,
        "ReferringPhysicianName": 0x00080090,
        "PerformingPhysicianName": 0x00081050,
        "OperatorsName": 0x00081070,
        "NameOfPhysiciansReadingStudy": 0x00081060,
    },
    "text": {
        "PatientID": 0x00100020,
        "OtherPatientIDs": 0x00101000,
        "AccessionNumber": 0x00080050,
        "InstitutionName": 0x00080080,
    },
    "dates": {
        "PatientBirthDate": 0x00100030,
        "StudyDate": 0x00080020,
        "SeriesDate": 0x00080021,
        "AcquisitionDate": 0x00080022,
        "ContentDate": 0x00080023,
    },
}

#: Matching recognised words against those values (``words.Matcher``, its browser port
#: ``frontend/src/words.js``): OCR confusions folded; words under ``min_length`` never
#: match; one wrong character forgiven in values of ``fuzzy_value``+ characters (the word
#: ``fuzzy_seen``+); a cut word (a ``prefix_seen``+ prefix of a ``prefix_value``+ value);
#: two values of ``joined_part``+ read as one word; ID and institution words of
#: ``text_word``+ looked for alone. ``\w`` in ``split``/``edges`` is Python's (Unicode).
WORD_MATCHING: dict[str, Any] = {
    "fold": {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "!": "1",
             "S": "5", "B": "8", "Z": "2", "G": "6"},
    "min_length": 2, "fuzzy_value": 5, "fuzzy_seen": 4, "prefix_value": 6, "prefix_seen": 4,
    "joined_part": 3, "text_word": 3,
    "split": r"[^\w/.\-]+", "edges": r"^[^\w]+|[^\w]+$",
    "months": ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    "month_names": ["JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY",
                    "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER"],
}  # fmt: skip

GENERATED_JS = Path("frontend/src/generated/engine-constants.js")


def _hex(tag: int) -> str:
    return f"{tag:08X}"


def engine_constants() -> dict[str, Any]:
    """Everything another implementation of this engine must reproduce, as JSON data.

    The browser engine (``frontend/src/deid/``, ``files.js``) reads it from the
    generated module (:func:`render_js`); ``GET /api/deid/profile/`` serves it as
    ``engine``. Tags are 8 upper-case hex digits (``"00100010"``), sets sorted lists,
    patterns regular expressions that mean the same in Python and JavaScript.
    """
    return {
        "option_info": {
            name: {"column": column, "code": code, "meaning": meaning}
            for name, (column, code, meaning) in OPTION_INFO.items()
        },
        "option_order": list(OPTION_INFO),
        "basic_profile_code": {"code": BASIC_PROFILE_CODE[0], "meaning": BASIC_PROFILE_CODE[1]},
        "clean_pixel_code": {"code": CLEAN_PIXEL_CODE[0], "meaning": CLEAN_PIXEL_CODE[1]},
        "method": {
            "template": METHOD_TEMPLATE,
            "max_length": LO_MAX_LENGTH,
            "coding_scheme": CODING_SCHEME,
        },
        "implementation_class_uid": IMPLEMENTATION_CLASS_UID,
        "implementation_version_name": BROWSER_IMPLEMENTATION_VERSION_NAME,
        "actions": {
            "remove": REMOVE,
            "empty": EMPTY,
            "dummy": DUMMY,
            "keep": KEEP,
            "clean": CLEAN,
            "shift": SHIFT,
            "uid": UID,
            "uid_sequence": UID_SEQUENCE,
        },
        "resolution": {
            "conditional": dict(CONDITIONAL_ACTIONS),
            "option_code_meanings": {k: dict(v) for k, v in OPTION_CODE_MEANINGS.items()},
            "protective_order": list(PROTECTIVE_ORDER),
        },
        "report_actions": {name.replace("-", "_"): name for name in REPORT_ACTIONS},
        "dummies": {
            "text_value": DUMMY_TEXT_VALUE,
            "text": dict(TEXT_DUMMIES),
            "number": dict(NUMBER_DUMMIES),
            "zero_bytes": dict(ZERO_BYTES_DUMMIES),
        },
        "text": {
            "free_text_vrs": sorted(FREE_TEXT_VRS),
            "cleanable_vrs": sorted(CLEANABLE_VRS),
            "min_token": MIN_TOKEN,
            "name_split": NAME_SPLIT_PATTERN,
            "name_part_components": NAME_PART_COMPONENTS,
            "name_word_split": NAME_WORD_SPLIT_PATTERN,
            "min_name_part": MIN_NAME_PART,
            "name_tags": [_hex(t) for t in NAME_TAGS],
            "id_tags": [_hex(t) for t in ID_TAGS],
        },
        "dates": {
            "max_shift_days": MAX_SHIFT_DAYS,
            "da": DA_PATTERN,
            "dt": DT_PATTERN,
            "timezone": TIMEZONE_PATTERN,
        },
        "safe_private": {
            "text": SAFE_PRIVATE_TEXT_PATTERN,
            "text_vrs": list(SAFE_PRIVATE_TEXT_VRS),
            "binary_sizes": dict(BINARY_SIZES),
        },
        "vrs": list(VRS),
        "tags": {keyword: _hex(tag) for keyword, tag in TAGS.items()},
        "removed_groups": {"mask": REMOVED_GROUP_MASK, "groups": list(REMOVED_GROUPS)},
        "dicomdir_sop_class": DICOMDIR_SOP_CLASS,
        "deflated_syntax": DEFLATED_SYNTAX,
        "uids": {
            "default_root": DEFAULT_UID_ROOT,
            "max_length": UID_MAX_LENGTH,
            "check_digits": CHECK_DIGITS,
            "min_body_digits": MIN_BODY_DIGITS,
        },
        "hmac_labels": {
            "uid": UID_LABEL,
            "uid_issued": UID_ISSUED_LABEL,
            "patient": PATIENT_LABEL,
            "date_shift": DATE_SHIFT_LABEL,
        },
        "pseudonym": {"prefix": PSEUDONYM_PREFIX, "length": PSEUDONYM_LENGTH},
        "pixel_review": {
            "rules": [
                {
                    "tag": _hex(rule.tag),
                    "values": sorted(rule.values),
                    "reason": rule.reason,
                    "unless_tag": None if rule.unless_tag is None else _hex(rule.unless_tag),
                    "unless_values": sorted(rule.unless_values),
                }
                for rule in PIXEL_REVIEW_RULES
            ],
            "overlay_group": {"mask": OVERLAY_GROUP_MASK, "value": OVERLAY_GROUP},
            "overlay_data_element": OVERLAY_DATA_ELEMENT,
            "overlay_reason": OVERLAY_REVIEW_REASON,
        },
        "messages": dict(MESSAGES),
        "identifying_words": {
            kind: {keyword: _hex(tag) for keyword, tag in tags.items()}
            for kind, tags in IDENTIFYING_WORD_TAGS.items()
        },
        "word_matching": WORD_MATCHING,
        "zip_limits": {
            "max_entries": MAX_ARCHIVE_ENTRIES,
            "max_entry_size": MAX_ENTRY_SIZE,
            "max_total": MAX_TOTAL_UNCOMPRESSED,
            "browser_max_total": BROWSER_MAX_TOTAL_UNCOMPRESSED,
            "max_ratio": MAX_COMPRESSION_RATIO,
            "ratio_min_size": RATIO_CHECK_MIN_SIZE,
            "max_depth": MAX_ZIP_DEPTH,
        },
    }


def render_js(constants: dict[str, Any] | None = None) -> str:
    """The ES module ``frontend/src/generated/engine-constants.js``: ``ENGINE``, the
    dictionary of :func:`engine_constants` (frozen)."""
    data = json.dumps(engine_constants() if constants is None else constants, indent=2)
    return (
        "// Generated from uploads/dicom/constants.py (engine_constants()): do not edit.\n"
        "// frontend/build.mjs writes it before bundling, with\n"
        f"//   python -m uploads.dicom.constants --write {GENERATED_JS.as_posix()}\n"
        "// tests/frontend/test_engine_constants.py fails while it differs from the Python.\n"
        f"const ENGINE = {data};\n\n"
        "function freeze(value) {\n"
        '  if (value && typeof value === "object") {\n'
        "    Object.values(value).forEach(freeze);\n"
        "    Object.freeze(value);\n"
        "  }\n"
        "  return value;\n"
        "}\n\n"
        "export default freeze(ENGINE);\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m uploads.dicom.constants",
        description="Print the engine constants as JSON, or write/check the JS module.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="PATH", help="write the JS module (when it changed)")
    group.add_argument("--check", metavar="PATH", help="exit 1 when the JS module is stale")
    args = parser.parse_args(argv)
    if args.write or args.check:
        path = Path(args.write or args.check)
        text = render_js()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            return 0
        if args.check:
            print(f"{path} is stale: run `npm run build` (or `make install`)", file=sys.stderr)
            return 1
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
        return 0
    json.dump(engine_constants(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
