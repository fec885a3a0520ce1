"""One element's Table E.1-1 action (PS3.15 E.1.1): ``Z``, ``D``, ``U``, ``C`` and the
date shift, on the encoded bytes where possible, else on the converted value.

``X`` (remove) and ``K`` (keep) need no more than the walk (:mod:`uploads.dicom.deid.walk`),
which also handles sequences. A ``D`` value is a dummy of the same VR
(:data:`DUMMIES`, defined in ``uploads/dicom/constants.py`` and shared with the browser
engine); a UI value is remapped instead.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataelem import DataElement, RawDataElement

from uploads.dicom import profile as prof
from uploads.dicom.constants import (
    CLEANABLE_VRS,
    CLEANED,
    DUMMY_TEXT_VALUE,
    EMPTIED,
    NUMBER_DUMMIES,
    REPLACED,
    TEXT_DUMMIES,
    UID_REMAPPED,
    ZERO_BYTES_DUMMIES,
)
from uploads.dicom.deid.dates import shift_element, shifted
from uploads.dicom.deid.elements import (
    UNDEFINED,
    ascii_values,
    dictionary_vr,
    raw_with,
    set_values,
    values_of,
)
from uploads.dicom.deid.run import Run

#: The dummy value of a ``D`` action, per VR (others get ``DUMMY_TEXT_VALUE``).
DUMMIES: dict[str, Any] = {
    **TEXT_DUMMIES,
    **NUMBER_DUMMIES,
    **{vr: b"\x00" * size for vr, size in ZERO_BYTES_DUMMIES.items()},
}
#: VRs whose encoded value is text (PS3.5 6.2), changed on the bytes when plain ASCII.
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
_RAW_ZERO_VRS = {vr: DUMMIES[vr] for vr in ("OB", "OW", "UN")}


def apply_raw(elems: dict[int, Any], tag: int, raw: RawDataElement, action: str, run: Run) -> bool:
    """Apply ``action`` on the encoded bytes, without converting the element.

    Most replacements are ASCII (UIDs, dates, pseudonyms, dummies): done on the bytes,
    the element stays raw and is written back as is, which is much cheaper than
    converting it to a value and encoding it again. Returns False when the element
    must be converted instead (sequences, non-ASCII text, cleaning, binary numbers).
    """
    vr = raw.VR if raw.VR not in (None, "UN") else dictionary_vr(tag)
    if vr is None or vr == "SQ" or raw.length == UNDEFINED or raw.value is None:
        return False
    counts = run.counts
    if action == prof.EMPTY:
        if raw.length:
            elems[tag] = raw._replace(value=b"", length=0)
        counts[(tag, EMPTIED)] += 1
        return True
    if vr not in _RAW_TEXT_VRS:
        if action == prof.DUMMY and vr in _RAW_ZERO_VRS:
            zeros = _RAW_ZERO_VRS[vr]
            elems[tag] = raw._replace(value=zeros, length=len(zeros))
            counts[(tag, REPLACED)] += 1
            return True
        return False
    values = ascii_values(raw.value)
    if values is None or action == prof.CLEAN:
        return False
    if action in (prof.UID, prof.UID_SEQUENCE) or (action == prof.DUMMY and vr == "UI"):
        if vr == "UI":
            elems[tag] = raw_with(raw, [run.uid(v) for v in values] or [""], vr)
            counts[(tag, UID_REMAPPED)] += 1
        else:
            elems[tag] = raw._replace(value=b"", length=0)
            counts[(tag, EMPTIED)] += 1
    elif action == prof.DUMMY:
        elems[tag] = raw_with(raw, [str(DUMMIES.get(vr, DUMMY_TEXT_VALUE))], vr)
        counts[(tag, REPLACED)] += 1
    elif action == prof.SHIFT:
        new, done = shifted(tag, vr, values, run.shift)
        if done is not None:
            elems[tag] = raw_with(raw, new, vr) if new else raw._replace(value=b"", length=0)
            counts[(tag, done)] += 1
    else:
        return False
    return True


def apply_value(elem: DataElement, action: str, run: Run) -> None:
    """Apply ``action`` to a converted element that is not a sequence."""
    tag = int(elem.tag)
    vr = elem.VR
    counts = run.counts
    if action == prof.EMPTY:
        if elem.value not in (None, "", b""):
            elem.value = elem.empty_value
        counts[(tag, EMPTIED)] += 1
    elif action in (prof.UID, prof.UID_SEQUENCE) or (action == prof.DUMMY and vr == "UI"):
        if vr == "UI":
            set_values(elem, [run.uid(str(v)) for v in values_of(elem)] or [""])
            counts[(tag, UID_REMAPPED)] += 1
        else:
            elem.value = elem.empty_value
            counts[(tag, EMPTIED)] += 1
    elif action == prof.DUMMY:
        elem.value = DUMMIES.get(vr, DUMMY_TEXT_VALUE)
        counts[(tag, REPLACED)] += 1
    elif action == prof.SHIFT:
        shift_element(elem, run)
    elif action == prof.CLEAN:
        if vr in CLEANABLE_VRS:
            scrub_element(elem, run)
            counts[(tag, CLEANED)] += 1
        else:  # binary (e.g. Maker Note): nothing here can be cleaned, so it goes
            elem.value = elem.empty_value
            counts[(tag, EMPTIED)] += 1


def scrub_element(elem: DataElement, run: Run) -> bool:
    """Cut the patient's names and identifiers out of a text element (Clean Descriptors,
    E.3.1); True when anything was cut."""
    values = values_of(elem)
    cleaned = [run.scrub(str(v)) for v in values]
    if cleaned != [str(v) for v in values]:
        set_values(elem, cleaned)
        return True
    return False
