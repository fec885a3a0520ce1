"""The names and identifiers cut out of kept descriptors (PS3.15 E.3.1, Clean Descriptors).

Two patterns: the patient's own names and identifiers, anywhere in a value
(:func:`scrub_pattern`), and the parts of every person's name in the upload or study, as
whole words (:func:`names_pattern`). ``frontend/src/names.js`` is the browser's half.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.filereader import dcmread

from uploads.dicom.constants import (
    DUMMY_TEXT_VALUE,
    ID_TAGS,
    MIN_NAME_PART,
    MIN_TOKEN,
    NAME_PART_COMPONENTS,
    NAME_SPLIT_PATTERN,
    NAME_TAGS,
    NAME_WORD_SPLIT_PATTERN,
    TAGS,
)
from uploads.dicom.deid.elements import dictionary_vr, elements, is_sequence, quiet, strings
from uploads.dicom.deid.identity import PATIENT_ID, PSEUDONYM_RE
from uploads.dicom.sources import check_inflated_size, sniff_dicom

_OTHER_IDS_SEQUENCE = TAGS["OtherPatientIDsSequence"]
_NAME_SPLIT_RE = re.compile(NAME_SPLIT_PATTERN)
_PN_COMPONENT_SPLIT_RE = re.compile(r"\^")
_NAME_WORD_SPLIT_RE = re.compile(NAME_WORD_SPLIT_PATTERN)
_NOT_NAMES = frozenset({DUMMY_TEXT_VALUE.casefold()})


def identifier_tokens(ds: Dataset) -> set[str]:
    """Names and identifiers of the patient, to be cut out of descriptors (E.3.1)."""
    tokens: set[str] = set()
    names = [value for tag in NAME_TAGS for value in strings(ds, tag)]
    ids = [value for tag in ID_TAGS for value in strings(ds, tag)]
    if _OTHER_IDS_SEQUENCE in elements(ds):
        for item in ds[_OTHER_IDS_SEQUENCE].value or ():
            ids.extend(strings(item, PATIENT_ID))
    for name in names:
        whole = name.strip()
        tokens.add(whole)
        tokens.update(_NAME_SPLIT_RE.split(whole))
    tokens.update(i.strip("\x00 ") for i in ids)
    return {t for t in tokens if len(t) >= MIN_TOKEN}


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
        if PSEUDONYM_RE.match(value.strip(" \x00")):
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
    with quiet():
        _gather_names(ds, found)
    return found


def names_in_file(data: bytes) -> set[str]:
    """:func:`person_names` of an encoded file (read up to its Pixel Data); an empty set
    for anything that is not a readable DICOM file (de-identifying it says why)."""
    if not sniff_dicom(data[:1024]):
        return set()
    has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
    with quiet():
        try:
            check_inflated_size(io.BytesIO(data))
            ds = dcmread(io.BytesIO(data), force=not has_preamble, stop_before_pixels=True)
            return person_names(ds)
        except Exception:
            return set()


def _gather_names(ds: Dataset, found: set[str]) -> None:
    elems = elements(ds)
    for tag in [int(t) for t in elems]:
        elem = elems[tag]
        if is_sequence(elem, tag):
            for item in ds[tag].value or ():
                _gather_names(item, found)
            continue
        vr = elem.VR if elem.VR is not None else dictionary_vr(tag)
        if vr == "PN":
            found.update(v for v in strings(ds, tag) if v)


def names_pattern(parts: set[str]) -> re.Pattern[str] | None:
    """Whole words (no letter, digit or ``_`` on either side), case-insensitive."""
    if not parts:
        return None
    ordered = sorted(parts, key=lambda p: (-len(p), p))
    words = "|".join(re.escape(p) for p in ordered)
    return re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)


def scrub_pattern(tokens: set[str]) -> re.Pattern[str] | None:
    """Any of ``tokens`` anywhere (longest first), case-insensitive."""
    if not tokens:
        return None
    ordered = sorted(tokens, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered), re.IGNORECASE)
