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
"""

from __future__ import annotations

import datetime
import functools
import io
import re
import struct
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

from pydicom import config as pydicom_config
from pydicom.datadict import DicomDictionary, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import dcmread
from pydicom.filewriter import dcmwrite
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from uploads.dicom import profile as prof
from uploads.dicom.constants import (
    ADDED,
    ALWAYS_REVIEW_SOP_CLASSES,
    BASIC_PROFILE_CODE,
    BINARY_SIZES,
    CLEAN_PIXEL_CODE,
    CLEANABLE_VRS,
    CLEANED,
    CODING_SCHEME,
    DA_PATTERN,
    DATE_SHIFTED,
    DEFLATED_SYNTAX,
    DICOMDIR_SOP_CLASS,
    DT_PATTERN,
    DUMMY_TEXT_VALUE,
    EMPTIED,
    FREE_TEXT_VRS,
    ID_TAGS,
    KEPT_SAFE_PRIVATE,
    LO_MAX_LENGTH,
    MESSAGES,
    METHOD_TEMPLATE,
    MIN_NAME_PART,
    MIN_TOKEN,
    NAME_PART_COMPONENTS,
    NAME_SPLIT_PATTERN,
    NAME_TAGS,
    NAME_WORD_SPLIT_PATTERN,
    NUMBER_DUMMIES,
    OPTION_INFO,
    OVERLAY_DATA_ELEMENT,
    OVERLAY_GROUP,
    OVERLAY_GROUP_MASK,
    OVERLAY_REVIEW_REASON,
    PIXEL_REVIEW_RULES,
    PSEUDONYM_LENGTH,
    PSEUDONYM_PREFIX,
    REMOVED,
    REMOVED_GROUP_MASK,
    REMOVED_GROUPS,
    REPLACED,
    REVIEW_UNLESS_NO_MODALITIES,
    SAFE_PRIVATE_TEXT_PATTERN,
    SAFE_PRIVATE_TEXT_VRS,
    TAGS,
    TEXT_DUMMIES,
    TIMEZONE_PATTERN,
    UID_REMAPPED,
    ZERO_BYTES_DUMMIES,
    engine_constants,
)
from uploads.dicom.encode import encode_file
from uploads.dicom.errors import DicomInputError
from uploads.dicom.sources import check_inflated_size, describe_non_dicom, sniff_dicom
from uploads.dicom.uids import (
    DEFAULT_UID_ROOT,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    date_shift_days,
    is_issued_uid,
    is_valid_uid,
    patient_pseudonym,
    remap_uid,
    validate_uid_root,
)

__all__ = [
    "ALWAYS_REVIEW_SOP_CLASSES",
    "DEFAULT_UID_ROOT",
    "REVIEW_UNLESS_NO_MODALITIES",
    "DeidAction",
    "DeidOptions",
    "DeidResult",
    "deidentify",
    "deidentify_bytes",
    "deidentify_file",
    "engine_constants",
    "name_parts",
    "names_in_file",
    "patient_identity",
    "person_names",
    "pixel_review",
]

# -- options ---------------------------------------------------------------------------------

#: Option name -> (Table E.1-1 column key, CID 7050 code, code meaning), PS3.16 CID 7050
#: (uploads/dicom/constants.py; DeidOptions declares its fields in the same order).
_OPTION_INFO = OPTION_INFO


@dataclass(frozen=True)
class DeidOptions:
    """The PS3.15 E.3 options applied on top of the Basic Profile.

    Attributes
    ----------
    retain_patient_characteristics : bool
        Keep age, sex, size, weight, ethnic group, smoking/pregnancy status (E.3.5).
    retain_longitudinal_modified_dates : bool
        Shift every date and date-time of a patient by the same keyed offset of -1 to
        -3650 days, keeping intervals; times are kept (E.3.6). Without it dates follow
        the Basic Profile (emptied, removed or dummy) and LongitudinalTemporalInformation
        Modified is ``REMOVED``.
    retain_device_identity, retain_institution_identity : bool
        Keep device serial numbers/station names, institution name/address (E.3.3, E.3.4).
    clean_descriptors : bool
        Keep descriptions (Study/Series Description, Protocol Name, comments ...) after
        removing every occurrence of the patient's names and identifiers found in the
        data set (E.3.1); see ``docs/deidentification.md`` for exactly what is removed.
    retain_safe_private : bool
        Keep the private attributes of the allow-list in the profile JSON, remove all
        other private elements (E.3.10).
    """

    retain_patient_characteristics: bool = True
    retain_longitudinal_modified_dates: bool = True
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    clean_descriptors: bool = True
    retain_safe_private: bool = True

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """All option names, e.g. ``retain_patient_characteristics``."""
        return _OPTION_NAMES

    @classmethod
    def from_names(cls, names: Iterable[str]) -> DeidOptions:
        """Options with exactly the named options enabled (settings, CLI).

        Names are case-insensitive and may use ``-`` for ``_``; blanks are ignored.

        Raises
        ------
        ValueError
            For an unknown name.

        Examples
        --------
        >>> DeidOptions.from_names(["clean-descriptors"]).names()
        ('clean_descriptors',)
        """
        valid = cls.option_names()
        chosen: set[str] = set()
        for raw in names:
            name = raw.strip().lower().replace("-", "_")
            if not name:
                continue
            if name not in valid:
                raise ValueError(
                    f"unknown de-identification option {raw.strip()!r}; "
                    f"valid options: {', '.join(valid)}"
                )
            chosen.add(name)
        return cls(**{name: name in chosen for name in valid})

    def names(self) -> tuple[str, ...]:
        """The enabled option names, in declaration order."""
        return tuple(name for name in self.option_names() if getattr(self, name))

    def with_changes(self, enable: Iterable[str] = (), disable: Iterable[str] = ()) -> DeidOptions:
        """A copy with some options switched on or off (names as in :meth:`from_names`)."""
        on = DeidOptions.from_names(enable).names()
        off = DeidOptions.from_names(disable).names()
        changes: dict[str, Any] = {name: True for name in on}
        changes.update({name: False for name in off})
        return replace(self, **changes)

    def profile_columns(self) -> frozenset[str]:
        """The Table E.1-1 option columns these options enable."""
        return frozenset(_OPTION_INFO[name][0] for name in self.names())


_OPTION_NAMES = tuple(f.name for f in fields(DeidOptions))


# -- results ---------------------------------------------------------------------------------

# The action names (REMOVED, EMPTIED, ... ADDED) are defined in uploads/dicom/constants.py.


@dataclass(frozen=True)
class DeidAction:
    """What was done to one attribute (never its value).

    ``tag`` is ``gggg,eeee``; ``count`` is how many elements with that tag (at any
    nesting level) got ``action``.
    """

    tag: str
    keyword: str
    action: str
    count: int = 1


@dataclass
class DeidResult:
    """The outcome of de-identifying one data set.

    Attributes
    ----------
    sop_instance_uid, study_instance_uid, series_instance_uid : str
        The *new* UIDs ("" when the input had none).
    sop_class_uid : str
        Unchanged SOP Class UID.
    patient_pseudonym : str
        The keyed pseudonym now in Patient ID and Patient's Name.
    actions : list of DeidAction
        (property) Attributes removed, emptied, replaced, remapped, shifted, cleaned or kept as
        safe private, by tag and keyword, sorted by tag.
    needs_pixel_review : bool
        True when pixels may show identifying text or features (see :func:`pixel_review`).
    pixel_review_reason : str
        Why ("" when no review is needed).
    options : DeidOptions
    profile_edition : str
        Edition of PS3.15 Table E.1-1 applied.
    dates_shifted : bool
        True when dates were shifted (LongitudinalTemporalInformationModified MODIFIED).
    invalid_uids : int
        UID values that were not valid UIDs (PS3.5 9.1: digits and dots, no leading
        zeros, at most 64 characters); they were replaced like every other UID.
    """

    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    patient_pseudonym: str
    needs_pixel_review: bool
    pixel_review_reason: str
    options: DeidOptions
    profile_edition: str
    dates_shifted: bool
    invalid_uids: int = 0
    counts: Mapping[tuple[int, str], int] = field(default_factory=dict, repr=False)
    _actions: list[DeidAction] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def actions(self) -> list[DeidAction]:
        """What was done, per tag and action (built on first access)."""
        if self._actions is None:
            self._actions = _actions(self.counts)
        return self._actions

    def action_for(self, keyword_or_tag: str) -> set[str]:
        """The actions applied to an attribute, by keyword or ``gggg,eeee`` tag."""
        key = keyword_or_tag.upper()
        return {a.action for a in self.actions if a.keyword.upper() == key or a.tag == key}


# -- burned-in annotation --------------------------------------------------------------------


def pixel_review(ds: Dataset) -> str:
    """Why the pixels of ``ds`` need a human look before release, or ``""``.

    Rules, first match wins:

    1. Burned In Annotation (0028,0301) is ``YES``.
    2. Recognizable Visual Features (0028,0302) is ``YES`` (faces, PS3.15 E.3.2).
    3. A Secondary Capture or encapsulated document SOP class
       (:data:`ALWAYS_REVIEW_SOP_CLASSES`): the header cannot vouch for captured content.
    4. Modality in :data:`REVIEW_UNLESS_NO_MODALITIES` (US, endoscopy, photos, projection
       X-ray, OT ...) and Burned In Annotation is not ``NO``.
    5. An overlay group (60xx) without Overlay Data: the overlay lives in unused bits of
       Pixel Data, which this engine does not alter.

    Rules 1-4 are data (:data:`uploads.dicom.constants.PIXEL_REVIEW_RULES`), which the
    browser engine interprets the same way. CT, MR, PT, NM, RT, SEG and other
    cross-sectional or derived objects are only flagged by rules 1, 2 and 5.
    """
    for rule in PIXEL_REVIEW_RULES:
        value = _text(ds, rule.tag).upper()
        if value in rule.values and not (
            rule.unless_tag is not None and _text(ds, rule.unless_tag).upper() in rule.unless_values
        ):
            return rule.reason.replace("{value}", value)
    tags = _elements(ds)  # the keys only: no element is converted
    overlay_groups = {t >> 16 for t in tags if (t >> 16) & OVERLAY_GROUP_MASK == OVERLAY_GROUP}
    if any(((g << 16) | OVERLAY_DATA_ELEMENT) not in tags for g in overlay_groups):
        return OVERLAY_REVIEW_REASON
    return ""


# -- walking the data set --------------------------------------------------------------------

_SQ_TAGS = frozenset(tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ")
_UNDEFINED = 0xFFFFFFFF
_PATIENT_NAME = TAGS["PatientName"]
_PATIENT_ID = TAGS["PatientID"]
_TIMEZONE_OFFSET = TAGS["TimezoneOffsetFromUTC"]

_NORMAL, _CLEAN_TEXT, _DUMMY_TEXT = 0, 1, 2
_FREE_TEXT_VRS = FREE_TEXT_VRS
_CLEANABLE_VRS = CLEANABLE_VRS
_DUMMY_TEXT_VALUE = DUMMY_TEXT_VALUE
_DUMMIES: dict[str, Any] = {
    **TEXT_DUMMIES,
    **NUMBER_DUMMIES,
    **{vr: b"\x00" * size for vr, size in ZERO_BYTES_DUMMIES.items()},
}
_DA_RE = re.compile(DA_PATTERN)
_DT_RE = re.compile(DT_PATTERN)
_TZ_RE = re.compile(TIMEZONE_PATTERN)
_SAFE_TEXT_RE = re.compile(SAFE_PRIVATE_TEXT_PATTERN)
_BINARY_SIZES = BINARY_SIZES
_MIN_TOKEN = MIN_TOKEN


class _Run:
    """State of one de-identification: compiled table, keys, counters."""

    __slots__ = (
        "compiled",
        "counts",
        "invalid_uids",
        "key",
        "names_re",
        "pseudonym",
        "scrub_re",
        "shift",
        "uid_cache",
        "uid_root",
        "uid_scope",
    )

    def __init__(
        self,
        compiled: prof.CompiledProfile,
        key: bytes,
        uid_root: str,
        uid_scope: str,
        pseudonym: str,
        shift: int | None,
        scrub_re: re.Pattern[str] | None,
        names_re: re.Pattern[str] | None = None,
    ) -> None:
        self.compiled = compiled
        self.key = key
        self.uid_root = uid_root
        self.uid_scope = uid_scope
        self.invalid_uids = 0
        self.pseudonym = pseudonym
        self.shift = shift
        self.scrub_re = scrub_re
        self.names_re = names_re
        self.counts: Counter[tuple[int, str]] = Counter()
        self.uid_cache: dict[str, str] = {}

    def uid(self, value: str) -> str:
        new = self.uid_cache.get(value)
        if new is None:
            # A UID this engine issued under its owned root for this scope is kept (a
            # re-import of our own output): its check digits prove it, not its prefix.
            stripped = value.strip("\x00 ")
            if stripped and not is_valid_uid(stripped):
                self.invalid_uids += 1
            if is_issued_uid(stripped, key=self.key, root=self.uid_root, scope=self.uid_scope):
                new = stripped
            else:
                new = remap_uid(value, key=self.key, root=self.uid_root, scope=self.uid_scope)
            self.uid_cache[value] = new
        return new

    def scrub(self, text: str) -> str:
        """The patient's names and IDs anywhere in ``text``, then every person's name
        parts as whole words, replaced by as many ``*``."""
        for pattern in (self.scrub_re, self.names_re):
            if pattern is not None and text:
                text = pattern.sub(lambda m: "*" * len(m.group(0)), text)
        return text


def _elements(ds: Dataset) -> dict[int, Any]:
    """The data set's element dict (pydicom's ``Dataset._dict``), keyed by tag."""
    return cast(dict[int, Any], ds._dict)


def _is_sequence(elem: DataElement | RawDataElement, tag: int) -> bool:
    if isinstance(elem, RawDataElement):
        if elem.VR is None:  # implicit VR: the dictionary knows, or undefined length says so
            return tag in _SQ_TAGS or elem.length == _UNDEFINED
        return elem.VR == "SQ" or (elem.VR == "UN" and elem.length == _UNDEFINED)
    return elem.VR == "SQ"


def _values(elem: DataElement) -> list[Any]:
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def _set_values(elem: DataElement, values: list[Any]) -> None:
    elem.value = values[0] if len(values) == 1 else values


def _walk(ds: Dataset, run: _Run, mode: int) -> None:
    compiled = run.compiled
    exact = compiled.exact
    counts = run.counts
    private: list[int] = []
    # Read access goes to the element dict directly: Dataset.get_item() converts the key
    # to a Tag first, which costs more than the whole check for most elements.
    elements = _elements(ds)
    for tag in [int(t) for t in elements]:  # plain ints: BaseTag.__eq__ is slow Python
        group = tag >> 16
        if group & 1:
            private.append(tag)
            continue
        if group <= 0x0002 or not tag & 0xFFFF:  # command/meta groups, group lengths
            del ds[tag]
            counts[(tag, REMOVED)] += 1
            continue
        if tag in (_PATIENT_NAME, _PATIENT_ID):
            raw = elements[tag]
            if isinstance(raw, RawDataElement) and raw.value is not None:
                elements[tag] = _raw_with(raw, [run.pseudonym], "LO")
            else:
                ds[tag].value = run.pseudonym
            counts[(tag, REPLACED)] += 1
            continue
        action = exact.get(tag)
        if action is None and group & REMOVED_GROUP_MASK in REMOVED_GROUPS:
            action = prof.REMOVE  # curve data and overlay planes: the whole group goes
        if action is None or action == prof.KEEP:
            if _is_sequence(elements[tag], tag):
                for item in ds[tag].value or ():
                    _walk(item, run, mode)
            elif mode and action is None:
                _text_in_sequence(ds[tag], run, mode)
            continue
        if action == prof.REMOVE:
            del ds[tag]
            counts[(tag, REMOVED)] += 1
            continue
        raw = elements[tag]
        if isinstance(raw, RawDataElement) and _apply_raw(elements, tag, raw, action, run):
            continue
        _apply(ds[tag], action, run, mode)
    if private:
        _private(ds, private, run)


_RAW_TEXT_VRS = frozenset(
    {
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "IS",
        "LO",
        "LT",
        "PN",
        "SH",
        "ST",
        "TM",
        "UC",
        "UI",
        "UR",
        "UT",
    }
)
_RAW_ZERO_VRS = {vr: _DUMMIES[vr] for vr in ("OB", "OW", "UN")}


def _dictionary_vr(tag: int) -> str | None:
    entry = DicomDictionary.get(tag)
    return entry[0] if entry else None


def _ascii_values(data: bytes | None) -> list[str] | None:
    """The values of an encoded text element, or None unless it is plain ASCII."""
    if data is None:
        return None
    if b"\x1b" in data:  # ISO 2022 escape sequences: let pydicom decode it
        return None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    text = text.rstrip("\x00 ")
    return [v.strip(" \x00") for v in text.split("\\")] if text else []


def _raw_with(raw: RawDataElement, values: list[str], vr: str) -> RawDataElement:
    """``raw`` with new ASCII values, padded to even length (PS3.5 6.2)."""
    data = "\\".join(values).encode("ascii")
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    return raw._replace(value=data, length=len(data))


def _apply_raw(
    elements: dict[int, Any], tag: int, raw: RawDataElement, action: str, run: _Run
) -> bool:
    """Apply ``action`` on the encoded bytes, without converting the element.

    Most replacements are ASCII (UIDs, dates, pseudonyms, dummies): done on the bytes,
    the element stays raw and is written back as is, which is much cheaper than
    converting it to a value and encoding it again. Returns False when the element
    must be converted instead (sequences, non-ASCII text, cleaning, binary numbers).
    """
    vr = raw.VR if raw.VR not in (None, "UN") else _dictionary_vr(tag)
    if vr is None or vr == "SQ" or raw.length == _UNDEFINED or raw.value is None:
        return False
    counts = run.counts
    if action == prof.EMPTY:
        if raw.length:
            elements[tag] = raw._replace(value=b"", length=0)
        counts[(tag, EMPTIED)] += 1
        return True
    if vr not in _RAW_TEXT_VRS:
        if action == prof.DUMMY and vr in _RAW_ZERO_VRS:
            zeros = _RAW_ZERO_VRS[vr]
            elements[tag] = raw._replace(value=zeros, length=len(zeros))
            counts[(tag, REPLACED)] += 1
            return True
        return False
    values = _ascii_values(raw.value)
    if values is None or action == prof.CLEAN:
        return False
    if action in (prof.UID, prof.UID_SEQUENCE) or (action == prof.DUMMY and vr == "UI"):
        if vr == "UI":
            elements[tag] = _raw_with(raw, [run.uid(v) for v in values] or [""], vr)
            counts[(tag, UID_REMAPPED)] += 1
        else:
            elements[tag] = raw._replace(value=b"", length=0)
            counts[(tag, EMPTIED)] += 1
    elif action == prof.DUMMY:
        elements[tag] = _raw_with(raw, [str(_DUMMIES.get(vr, _DUMMY_TEXT_VALUE))], vr)
        counts[(tag, REPLACED)] += 1
    elif action == prof.SHIFT:
        new, done = _shifted(tag, vr, values, run.shift)
        if done is not None:
            elements[tag] = _raw_with(raw, new, vr) if new else raw._replace(value=b"", length=0)
            counts[(tag, done)] += 1
    else:
        return False
    return True


def _apply(elem: DataElement, action: str, run: _Run, mode: int) -> None:
    tag = int(elem.tag)
    vr = elem.VR
    counts = run.counts
    if vr == "SQ":
        if action == prof.EMPTY:
            elem.value = Sequence()
            counts[(tag, EMPTIED)] += 1
            return
        inner = mode
        if action == prof.DUMMY:
            inner = _DUMMY_TEXT
            counts[(tag, REPLACED)] += 1
        elif action == prof.CLEAN:
            inner = max(mode, _CLEAN_TEXT)
            counts[(tag, CLEANED)] += 1
        for item in elem.value or ():
            _walk(item, run, inner)
        return
    if action == prof.EMPTY:
        if elem.value not in (None, "", b""):
            elem.value = elem.empty_value
        counts[(tag, EMPTIED)] += 1
    elif action in (prof.UID, prof.UID_SEQUENCE) or (action == prof.DUMMY and vr == "UI"):
        if vr == "UI":
            _set_values(elem, [run.uid(str(v)) for v in _values(elem)] or [""])
            counts[(tag, UID_REMAPPED)] += 1
        else:
            elem.value = elem.empty_value
            counts[(tag, EMPTIED)] += 1
    elif action == prof.DUMMY:
        elem.value = _DUMMIES.get(vr, _DUMMY_TEXT_VALUE)
        counts[(tag, REPLACED)] += 1
    elif action == prof.SHIFT:
        _shift(elem, run)
    elif action == prof.CLEAN:
        if vr in _CLEANABLE_VRS:
            _scrub_element(elem, run)
            counts[(tag, CLEANED)] += 1
        else:  # binary (e.g. Maker Note): nothing here can be cleaned, so it goes
            elem.value = elem.empty_value
            counts[(tag, EMPTIED)] += 1


def _shift_value(value: str, vr: str, days: int) -> str | None:
    text = value.strip()
    match = (_DA_RE if vr == "DA" else _DT_RE).match(text)
    if match is None:
        return None
    try:
        day = datetime.date(int(match[1]), int(match[2]), int(match[3]))
        day += datetime.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}{text[8:]}"


def _shifted(
    tag: int, vr: str, values: list[str], shift: int | None
) -> tuple[list[str], str | None]:
    """New values for a date-shift action: ``(values, action)``; action None = keep.

    Retain Longitudinal Temporal Information with Modified Dates (PS3.15 E.3.6): DA and
    the date part of DT move by the patient's shift; TM and a well-formed Timezone Offset
    From UTC are kept; anything that cannot be shifted exactly (partial or malformed
    dates, other VRs) loses its value.
    """
    if vr == "TM":
        return values, None
    if vr == "SH" and tag == _TIMEZONE_OFFSET and all(_TZ_RE.match(v.strip()) for v in values):
        return values, None
    if values and shift is not None and vr in ("DA", "DT"):
        shifted = [_shift_value(v, vr, shift) for v in values]
        if None not in shifted:
            return [v for v in shifted if v is not None], DATE_SHIFTED
    return [], EMPTIED


def _shift(elem: DataElement, run: _Run) -> None:
    """Date shift on a converted element (see :func:`_shifted`)."""
    new, done = _shifted(int(elem.tag), elem.VR, [str(v) for v in _values(elem)], run.shift)
    if done is None:
        return
    if new:
        _set_values(elem, new)
    else:
        elem.value = elem.empty_value
    run.counts[(int(elem.tag), done)] += 1


def _scrub_element(elem: DataElement, run: _Run) -> bool:
    values = _values(elem)
    cleaned = [run.scrub(str(v)) for v in values]
    if cleaned != [str(v) for v in values]:
        _set_values(elem, cleaned)
        return True
    return False


def _text_in_sequence(elem: DataElement, run: _Run, mode: int) -> None:
    """Free text not listed in Table E.1-1 inside a D (dummy) or C (clean) sequence."""
    vr = elem.VR
    tag = int(elem.tag)
    if mode == _DUMMY_TEXT and vr in _FREE_TEXT_VRS:
        if elem.value not in (None, ""):
            elem.value = _DUMMY_TEXT_VALUE
            run.counts[(tag, REPLACED)] += 1
    elif vr in _CLEANABLE_VRS and _scrub_element(elem, run):
        run.counts[(tag, CLEANED)] += 1


def _raw_bytes(ds: Dataset, tag: int) -> tuple[str | None, bytes | None]:
    """``(VR, value bytes)`` of a not yet converted element, else ``(VR, None)``.

    Private elements are judged on their bytes: converting them makes pydicom look up
    private dictionaries, which costs more than the whole check.
    """
    raw = ds.get_item(tag)
    if isinstance(raw, RawDataElement):
        return raw.VR, raw.value
    return (raw.VR if raw is not None else None), None


def _creator_text(ds: Dataset, tag: int) -> str | None:
    _, data = _raw_bytes(ds, tag)
    value: Any = data if data is not None else ds[tag].value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ") if isinstance(value, str) else None


def _safe_private_value(ds: Dataset, tag: int, row: prof.SafePrivateRow) -> bool:
    """True if an allow-listed private element holds what the allow-list says (numbers)."""
    vr, data = _raw_bytes(ds, tag)
    if data is not None and vr in (None, "UN", row.vr):
        if row.vr in _BINARY_SIZES:
            return vr == row.vr or len(data) % _BINARY_SIZES[row.vr] == 0
        try:
            texts = data.decode("ascii").split("\\")
        except UnicodeDecodeError:
            return False
    else:
        elem = ds[tag]
        if row.vr != elem.VR:
            return False
        if row.vr in _BINARY_SIZES:
            return True
        texts = [str(v) for v in _values(elem)]
    return row.vr in SAFE_PRIVATE_TEXT_VRS and all(_SAFE_TEXT_RE.match(t) for t in texts)


def _private(ds: Dataset, tags: list[int], run: _Run) -> None:
    """Private elements: keep the safe allow-list (with its creators), remove the rest."""
    compiled = run.compiled
    counts = run.counts
    creators: dict[tuple[int, int], str] = {}
    kept_blocks: set[tuple[int, int]] = set()
    if compiled.private_action == prof.CLEAN and compiled.safe_private:
        for tag in tags:
            element = tag & 0xFFFF
            if 0x0010 <= element <= 0x00FF:
                text = _creator_text(ds, tag)
                if text:
                    creators[(tag >> 16, element)] = text
    for tag in tags:
        group, element = tag >> 16, tag & 0xFFFF
        if element < 0x0100:
            continue
        block = (group, element >> 8)
        creator = creators.get(block)
        row = compiled.safe_private.get((group, creator, element & 0xFF)) if creator else None
        if row is not None and _safe_private_value(ds, tag, row):
            kept_blocks.add(block)
            counts[(tag, KEPT_SAFE_PRIVATE)] += 1
        else:
            del ds[tag]
            counts[(tag, REMOVED)] += 1
    for tag in tags:
        group, element = tag >> 16, tag & 0xFFFF
        if element < 0x0100 and (group, element) not in kept_blocks:
            del ds[tag]
            counts[(tag, REMOVED)] += 1


# -- identity --------------------------------------------------------------------------------


_SOP_CLASS_UID = TAGS["SOPClassUID"]
_SOP_INSTANCE_UID = TAGS["SOPInstanceUID"]
_STUDY_UID = TAGS["StudyInstanceUID"]
_SERIES_UID = TAGS["SeriesInstanceUID"]
_PATIENT_BIRTH_DATE = TAGS["PatientBirthDate"]
_NAME_TAGS = NAME_TAGS
_ID_TAGS = ID_TAGS
_OTHER_IDS_SEQUENCE = TAGS["OtherPatientIDsSequence"]
_NAME_SPLIT_RE = re.compile(NAME_SPLIT_PATTERN)


def _strings(ds: Dataset, tag: int) -> list[str]:
    """The values of a text element as strings ([] when absent).

    Plain-ASCII values are read from the encoded bytes (no conversion); anything else
    is decoded by pydicom with the data set's character set.
    """
    elem = _elements(ds).get(tag)
    if elem is None:
        return []
    if isinstance(elem, RawDataElement):
        values = _ascii_values(elem.value)
        if values is not None:
            return values
    return [str(v).strip("\x00 ") for v in _values(ds[tag])]


def _text(ds: Dataset, tag: int) -> str:
    return "\\".join(_strings(ds, tag))


def patient_identity(ds: Dataset) -> str:
    """The original identity the pseudonym and date shift are keyed from.

    The Patient ID when present; otherwise Patient's Name and Birth Date; otherwise the
    Study Instance UID (so unrelated studies without any patient identity are not merged
    into one "patient"); otherwise the SOP Instance UID.
    """
    patient_id = _text(ds, _PATIENT_ID)
    if patient_id:
        return f"id:{patient_id}"
    name, birth = _text(ds, _PATIENT_NAME), _text(ds, _PATIENT_BIRTH_DATE)
    if name or birth:
        return f"name:{name}|{birth}"
    study = _text(ds, _STUDY_UID)
    return f"study:{study}" if study else f"sop:{_text(ds, _SOP_INSTANCE_UID)}"


def _identifier_tokens(ds: Dataset) -> set[str]:
    """Names and identifiers of the patient, to be cut out of descriptors (E.3.1)."""
    tokens: set[str] = set()
    names = [value for tag in _NAME_TAGS for value in _strings(ds, tag)]
    ids = [value for tag in _ID_TAGS for value in _strings(ds, tag)]
    if _OTHER_IDS_SEQUENCE in _elements(ds):
        for item in ds[_OTHER_IDS_SEQUENCE].value or ():
            ids.extend(_strings(item, _PATIENT_ID))
    for name in names:
        whole = name.strip()
        tokens.add(whole)
        tokens.update(_NAME_SPLIT_RE.split(whole))
    tokens.update(i.strip("\x00 ") for i in ids)
    return {t for t in tokens if len(t) >= _MIN_TOKEN}


_PN_COMPONENT_SPLIT_RE = re.compile(r"\^")
_NAME_WORD_SPLIT_RE = re.compile(NAME_WORD_SPLIT_PATTERN)
_NOT_NAMES = frozenset({DUMMY_TEXT_VALUE.casefold()})


def name_parts(values: Iterable[str]) -> set[str]:
    """The parts of Person Name values that are cut out of descriptors.

    Each value's component groups (alphabetic, ideographic, phonetic, separated by
    ``=``) and, in each, the family, given and middle name components (PS3.5 6.2.1,
    separated by ``^``; prefix and suffix are titles, not names): every component whole
    and its words, at least :data:`MIN_NAME_PART` characters long. Pseudonyms and the
    engine's own dummy are not names.

    >>> sorted(name_parts(["Van Damme^Kris^^Dr."]))
    ['Damme', 'Kris', 'Van', 'Van Damme']
    """
    parts: set[str] = set()
    for value in values:
        if _PSEUDONYM_RE.match(value.strip(" \x00")):
            continue
        for group in value.split("="):
            for component in _PN_COMPONENT_SPLIT_RE.split(group)[:NAME_PART_COMPONENTS]:
                whole = component.strip(" \x00")
                parts.add(whole)
                parts.update(_NAME_WORD_SPLIT_RE.split(whole))
    return {p for p in parts if len(p) >= MIN_NAME_PART and p.casefold() not in _NOT_NAMES}


def person_names(ds: Dataset) -> set[str]:
    """Every Person Name (VR PN, PS3.5 6.2) value in ``ds``, nested ones included.

    Gathered from every file of an upload or study before any is de-identified, so that
    a name found in one file is cut out of the descriptors of all (PS3.15 E.3.5, Clean
    Descriptors Option). Private elements count when their VR is explicit.
    """
    found: set[str] = set()
    with _quiet():
        _gather_names(ds, found)
    return found


def names_in_file(data: bytes) -> set[str]:
    """:func:`person_names` of an encoded file (read up to its Pixel Data); an empty set
    for anything that is not a readable DICOM file (de-identifying it says why)."""
    if not sniff_dicom(data[:1024]):
        return set()
    has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
    with _quiet():
        try:
            check_inflated_size(io.BytesIO(data))
            ds = dcmread(io.BytesIO(data), force=not has_preamble, stop_before_pixels=True)
            return person_names(ds)
        except Exception:
            return set()


def _gather_names(ds: Dataset, found: set[str]) -> None:
    elements = _elements(ds)
    for tag in [int(t) for t in elements]:
        elem = elements[tag]
        if _is_sequence(elem, tag):
            for item in ds[tag].value or ():
                _gather_names(item, found)
            continue
        vr = elem.VR if elem.VR is not None else _dictionary_vr(tag)
        if vr == "PN":
            found.update(v for v in _strings(ds, tag) if v)


def _names_pattern(parts: set[str]) -> re.Pattern[str] | None:
    """Whole words (no letter, digit or ``_`` on either side), case-insensitive."""
    if not parts:
        return None
    ordered = sorted(parts, key=lambda p: (-len(p), p))
    words = "|".join(re.escape(p) for p in ordered)
    return re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)


def _scrub_pattern(tokens: set[str]) -> re.Pattern[str] | None:
    if not tokens:
        return None
    ordered = sorted(tokens, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered), re.IGNORECASE)


# -- public API ------------------------------------------------------------------------------


@contextmanager
def _quiet() -> Iterator[None]:
    """No pydicom warnings or log lines while handling values: they would quote them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pydicom_config.disable_value_validation():
            yield


def _method_values(options: DeidOptions, edition: str) -> list[str]:
    values = [METHOD_TEMPLATE.replace("{edition}", edition)]
    values += [_OPTION_INFO[name][2] for name in options.names()]
    return [v[:LO_MAX_LENGTH] for v in values]


def _encode_text(tag: int, vr: str, text: str, implicit: bool, order: str) -> bytes:
    value = text.encode("ascii")
    if len(value) % 2:
        value += b" "
    if implicit:
        return struct.pack(f"{order}HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
    header = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    return header + struct.pack(f"{order}H", len(value)) + value


@functools.cache
def _method_code_element(
    options: DeidOptions, implicit: bool, little: bool, pixels_cleaned: bool = False
) -> RawDataElement:
    """De-identification Method Code Sequence, already encoded (PS3.3 C.7.1.1).

    CID 7050 codes of the profile and the options (PS3.16), and the Clean Pixel Data
    Option's when the pixels were cleaned. Encoded once per option set and encoding and
    inserted as a raw element: writing five small items through pydicom would cost a fifth
    of the whole file write.
    """
    order = "<" if little else ">"
    codes = [BASIC_PROFILE_CODE] + [_OPTION_INFO[n][1:] for n in options.names()]
    if pixels_cleaned:
        codes.append(CLEAN_PIXEL_CODE)
    items = b""
    for value, meaning in codes:
        item = b"".join(
            _encode_text(tag, vr, text, implicit, order)
            for tag, vr, text in (
                (0x00080100, "SH", value),  # Code Value
                (0x00080102, "SH", CODING_SCHEME),  # Coding Scheme Designator
                (0x00080104, "LO", meaning),  # Code Meaning
            )
        )
        items += struct.pack(f"{order}HHI", 0xFFFE, 0xE000, len(item)) + item
    tag = BaseTag(TAGS["DeidentificationMethodCodeSequence"])
    return RawDataElement(tag, "SQ", len(items), items, 0, implicit, little)


def _encoding(syntax: str, ds: Dataset) -> tuple[bool, bool]:
    """``(implicit VR, little endian)`` the data set will be written with."""
    uid = UID(syntax)
    if uid.is_transfer_syntax:
        return uid.is_implicit_VR, uid.is_little_endian
    implicit, little = getattr(ds, "original_encoding", (False, True))
    return bool(implicit), little is not False


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "") or "").strip("\x00 ") if meta else ""
    if syntax:
        return syntax
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        implicit, little = True, True
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _is_dicomdir(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    sop = str(meta.get("MediaStorageSOPClassUID", "") if meta else "")
    return sop == DICOMDIR_SOP_CLASS or TAGS["DirectoryRecordSequence"] in ds


def deidentify(
    ds: Dataset,
    *,
    key: bytes,
    options: DeidOptions | None = None,
    uid_root: str = DEFAULT_UID_ROOT,
    uid_scope: str = "",
    names: Iterable[str] = (),
) -> DeidResult:
    """De-identify ``ds`` **in place** (PS3.15 E.1.1 Basic Profile plus ``options``).

    The given data set is modified and its File Meta Information replaced; pass a copy
    to keep the original. Pixel Data is left exactly as it is (no decoding).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A composite instance (SOP Class and SOP Instance UID required).
    key : bytes
        Secret for UID remapping, the patient pseudonym and the date shift. The same
        key gives the same results across files and runs.
    options : DeidOptions, optional
        Defaults to ``DeidOptions()``.
    uid_root : str
        Root of the new UIDs, :data:`DEFAULT_UID_ROOT` by default.
    uid_scope : str
        Under an owned root: whom the UIDs are issued for (e.g. an account). A UID in
        the input is kept only when it was issued under this root for this scope with
        this key (:func:`uploads.dicom.uids.is_issued_uid`); every other UID is replaced.
    names : iterable of str
        Person Name values found in the other files of the same upload or study
        (:func:`person_names` of each, gathered before any is de-identified). With Clean
        Descriptors, their parts and those of every PN value in ``ds`` are cut out of the
        kept descriptors as whole words (:func:`name_parts`).

    Returns
    -------
    DeidResult

    Raises
    ------
    DicomInputError
        For a DICOMDIR, a data set without SOP Class/Instance UID, or values so damaged
        that they cannot be processed (then ``ds`` is partly changed: discard it).
    ValueError
        For an empty key or an unusable ``uid_root``.
    """
    if not key:
        raise ValueError(MESSAGES["empty_key"])
    validate_uid_root(uid_root)
    options = options or DeidOptions()
    compiled = prof.compile_profile(options.profile_columns())
    edition = prof.load_profile().edition
    with _quiet():
        try:
            extra = frozenset(names)
            return _deidentify(ds, key, options, (uid_root, uid_scope), compiled, edition, extra)
        except DicomInputError:
            raise
        except Exception as exc:
            raise DicomInputError(
                f"the file is damaged and could not be de-identified ({type(exc).__name__})"
            ) from None


#: Patient Identity Removed, De-identification Method (+ Code Sequence), Longitudinal
#: Temporal Information Modified: added to every output (PS3.15 E.1.1 item 6).
_ADDED_TAGS = tuple(
    TAGS[keyword]
    for keyword in (
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "LongitudinalTemporalInformationModified",
    )
)
_PSEUDONYM_RE = re.compile(rf"^{re.escape(PSEUDONYM_PREFIX)}[A-Z2-7]{{{PSEUDONYM_LENGTH}}}$")


def _issued_here(ds: Dataset, key: bytes, uid_root: str, uid_scope: str) -> bool:
    """True for a data set this engine already de-identified under the same owned root,
    key and scope.

    All three must hold: the SOP Instance UID was issued here (its check digits verify,
    :func:`uploads.dicom.uids.is_issued_uid`), Patient ID and Patient's Name are the
    same pseudonym, and Patient Identity Removed is YES.
    """
    patient_id = _text(ds, _PATIENT_ID)
    return (
        is_issued_uid(_text(ds, _SOP_INSTANCE_UID), key=key, root=uid_root, scope=uid_scope)
        and bool(_PSEUDONYM_RE.match(patient_id))
        and _text(ds, _PATIENT_NAME) == patient_id
        and _text(ds, TAGS["PatientIdentityRemoved"]).upper() == "YES"
    )


_METHOD_CODES = TAGS["DeidentificationMethodCodeSequence"]
_BURNED_IN = TAGS["BurnedInAnnotation"]


def _pixels_cleaned(ds: Dataset) -> bool:
    """The input says its pixels were cleaned already (e.g. by the browser engine's box
    editor, before sending): Burned In Annotation NO and the Clean Pixel Data Option's
    code (PS3.15 E.3.1) in De-identification Method Code Sequence. Kept in the output."""
    if _text(ds, _BURNED_IN).upper() != "NO" or _METHOD_CODES not in _elements(ds):
        return False
    items = ds[_METHOD_CODES].value or ()
    return any(_text(item, 0x00080100) == CLEAN_PIXEL_CODE[0] for item in items)


def _deidentify(
    ds: Dataset,
    key: bytes,
    options: DeidOptions,
    uid_where: tuple[str, str],
    compiled: prof.CompiledProfile,
    edition: str,
    names: frozenset[str],
) -> DeidResult:
    uid_root, uid_scope = uid_where
    if _is_dicomdir(ds):
        raise DicomInputError(MESSAGES["dicomdir"])
    sop_class = _text(ds, _SOP_CLASS_UID)
    if not sop_class or not _text(ds, _SOP_INSTANCE_UID):
        raise DicomInputError(MESSAGES["no_sop_uids"])
    review = pixel_review(ds)
    cleaned_pixels = _pixels_cleaned(ds)
    identity = patient_identity(ds)
    if _issued_here(ds, key, uid_root, uid_scope):
        # Our own output again (e.g. an exported study re-imported): keep the pseudonym
        # and do not move the dates a second time.
        pseudonym = _text(ds, _PATIENT_ID)
        shift = 0 if options.retain_longitudinal_modified_dates else None
    else:
        pseudonym = patient_pseudonym(identity, key=key)
        shift = (
            date_shift_days(identity, key=key)
            if options.retain_longitudinal_modified_dates
            else None
        )
    scrub = names_re = None
    if options.clean_descriptors:
        scrub = _scrub_pattern(_identifier_tokens(ds))
        names_re = _names_pattern(name_parts(person_names(ds) | names))
    run = _Run(compiled, key, uid_root, uid_scope, pseudonym, shift, scrub, names_re)
    syntax = _transfer_syntax(ds)

    _walk(ds, run, _NORMAL)

    ds.add_new(_PATIENT_NAME, "PN", pseudonym)
    ds.add_new(_PATIENT_ID, "LO", pseudonym)
    ds.add_new(TAGS["PatientIdentityRemoved"], "CS", "YES")
    ds.add_new(TAGS["DeidentificationMethod"], "LO", _method_values(options, edition))
    method_codes = _method_code_element(options, *_encoding(syntax, ds), cleaned_pixels)
    ds[TAGS["DeidentificationMethodCodeSequence"]] = method_codes
    temporal = "MODIFIED" if shift is not None else "REMOVED"
    ds.add_new(TAGS["LongitudinalTemporalInformationModified"], "CS", temporal)
    for tag in _ADDED_TAGS:
        run.counts[(tag, ADDED)] += 1

    sop_uid = _text(ds, _SOP_INSTANCE_UID)
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = UID(syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128

    return DeidResult(
        sop_instance_uid=sop_uid,
        study_instance_uid=_text(ds, _STUDY_UID),
        series_instance_uid=_text(ds, _SERIES_UID),
        sop_class_uid=sop_class,
        patient_pseudonym=pseudonym,
        counts=run.counts,
        needs_pixel_review=bool(review),
        pixel_review_reason=review,
        options=options,
        profile_edition=edition,
        dates_shifted=shift is not None,
        invalid_uids=run.invalid_uids,
    )


def _actions(counts: Mapping[tuple[int, str], int]) -> list[DeidAction]:
    result = []
    for (tag, action), count in sorted(counts.items()):
        try:
            keyword = "" if (tag >> 16) & 1 else keyword_for_tag(tag)
        except Exception:
            keyword = ""
        result.append(DeidAction(f"{tag >> 16:04X},{tag & 0xFFFF:04X}", keyword, action, count))
    return result


def _read(data: bytes) -> Dataset:
    if not data:
        raise DicomInputError("empty file: not a DICOM file")
    if not sniff_dicom(data[:1024]):
        raise DicomInputError(f"not a DICOM file ({describe_non_dicom(data[:1024])})")
    has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
    check_inflated_size(io.BytesIO(data))  # a deflated data set is inflated whole by pydicom
    try:
        ds = dcmread(io.BytesIO(data), force=not has_preamble)
    except Exception as exc:
        raise DicomInputError(
            f"not readable: the file is truncated or damaged ({type(exc).__name__})"
        ) from None
    _check_complete(ds, len(data))
    return ds


_DEFLATED = DEFLATED_SYNTAX
_LONGEST_HEADER = 12


def _check_complete(ds: Dataset, size: int) -> None:
    """pydicom stops quietly at the end of a cut file; find out from the last element."""
    elements = _elements(ds)
    if not elements:
        raise DicomInputError("not a DICOM file: no data elements found")
    if _transfer_syntax(ds) == _DEFLATED:
        return  # positions refer to the inflated stream
    last = elements[next(reversed(elements))]
    if not isinstance(last, RawDataElement) or last.length == _UNDEFINED or last.value is None:
        return
    leftover = size - (last.value_tell + last.length)
    if len(last.value) < last.length or 0 < leftover < _LONGEST_HEADER:
        raise DicomInputError(MESSAGES["truncated_element"])


def deidentify_bytes(
    data: bytes,
    *,
    key: bytes,
    options: DeidOptions | None = None,
    uid_root: str = DEFAULT_UID_ROOT,
    uid_scope: str = "",
    names: Iterable[str] = (),
) -> tuple[bytes, DeidResult]:
    """De-identify an encoded DICOM file and return the new file's bytes.

    The transfer syntax is kept; compressed Pixel Data is copied byte for byte.
    Parameters as for :func:`deidentify`.

    Raises
    ------
    DicomInputError
        For anything wrong with ``data`` (not DICOM, truncated, damaged, DICOMDIR, no
        SOP Instance UID). No other exception escapes for bad input.
    """
    encoded, result, _ = deidentify_encoded(
        data, key=key, options=options, uid_root=uid_root, uid_scope=uid_scope, names=names
    )
    return encoded, result


def deidentify_encoded(
    data: bytes,
    *,
    key: bytes,
    options: DeidOptions | None = None,
    uid_root: str = DEFAULT_UID_ROOT,
    uid_scope: str = "",
    names: Iterable[str] = (),
) -> tuple[bytes, DeidResult, Dataset]:
    """As :func:`deidentify_bytes`, and also return the de-identified data set as it was
    written, so a caller that indexes the result need not parse the new bytes again."""
    with _quiet():
        ds = _read(data)
        result = deidentify(
            ds, key=key, options=options, uid_root=uid_root, uid_scope=uid_scope, names=names
        )
        try:
            encoded = encode_file(ds, data) or _write(ds)
        except Exception as exc:
            raise DicomInputError(
                f"not readable: the file is truncated or damaged ({type(exc).__name__})"
            ) from None
    return encoded, result, ds


def _write(ds: Dataset) -> bytes:
    """Encode as a PS3.10 file in the data set's own transfer syntax.

    A transfer syntax newer than pydicom knows (e.g. Deflated Image Frame Compression,
    1.2.840.10008.1.2.8.1) is written with the encoding the file was read with.
    """
    out = io.BytesIO()
    if UID(ds.file_meta.TransferSyntaxUID).is_transfer_syntax:
        dcmwrite(out, ds, enforce_file_format=True)
    else:
        implicit, little = getattr(ds, "original_encoding", (False, True))
        dcmwrite(
            out,
            ds,
            implicit_vr=bool(implicit),
            little_endian=little is not False,
            force_encoding=True,
        )
    return out.getvalue()


def deidentify_file(
    source: str | Path,
    destination: str | Path,
    *,
    key: bytes,
    options: DeidOptions | None = None,
    uid_root: str = DEFAULT_UID_ROOT,
) -> DeidResult:
    """Read ``source``, de-identify it and write the result to ``destination``.

    Parent folders of ``destination`` are created. See :func:`deidentify_bytes`.
    """
    data, result = deidentify_bytes(
        Path(source).read_bytes(), key=key, options=options, uid_root=uid_root
    )
    target = Path(destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return result
