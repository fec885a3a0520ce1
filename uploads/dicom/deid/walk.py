"""One walk over the data set applies Table E.1-1 (PS3.15 E.1.1) to every element,
recursing into sequence items.

Outside any ``D`` or ``C`` sequence only the elements the table lists change. Inside a
``D`` (dummy) sequence the items keep their elements, the table applies inside, and free
text the table does not list is replaced; inside a ``C`` (clean) sequence all text is
cleaned. Patient's Name and Patient ID become the pseudonym wherever they stand.
"""

from __future__ import annotations

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from uploads.dicom import profile as prof
from uploads.dicom.constants import (
    CLEANABLE_VRS,
    CLEANED,
    DUMMY_TEXT_VALUE,
    EMPTIED,
    FREE_TEXT_VRS,
    REMOVED,
    REMOVED_GROUP_MASK,
    REMOVED_GROUPS,
    REPLACED,
)
from uploads.dicom.deid.actions import apply_raw, apply_value, scrub_element
from uploads.dicom.deid.elements import elements, is_sequence, raw_with
from uploads.dicom.deid.identity import PATIENT_ID, PATIENT_NAME
from uploads.dicom.deid.private import private_elements
from uploads.dicom.deid.run import Run

#: Walk modes: outside any D or C sequence, inside a C sequence (clean all text), inside
#: a D sequence (replace free text).
NORMAL, CLEAN_TEXT, DUMMY_TEXT = 0, 1, 2


def walk(ds: Dataset, run: Run, mode: int) -> None:
    """Apply the compiled table of ``run`` to every element of ``ds`` and its items."""
    compiled = run.compiled
    exact = compiled.exact
    counts = run.counts
    private: list[int] = []
    # Read access goes to the element dict directly: Dataset.get_item() converts the key
    # to a Tag first, which costs more than the whole check for most elements.
    elems = elements(ds)
    for tag in [int(t) for t in elems]:  # plain ints: BaseTag.__eq__ is slow Python
        group = tag >> 16
        if group & 1:
            private.append(tag)
            continue
        if group <= 0x0002 or not tag & 0xFFFF:  # command/meta groups, group lengths
            del ds[tag]
            counts[(tag, REMOVED)] += 1
            continue
        if tag in (PATIENT_NAME, PATIENT_ID):
            raw = elems[tag]
            if isinstance(raw, RawDataElement) and raw.value is not None:
                elems[tag] = raw_with(raw, [run.pseudonym], "LO")
            else:
                ds[tag].value = run.pseudonym
            counts[(tag, REPLACED)] += 1
            continue
        action = exact.get(tag)
        if action is None and group & REMOVED_GROUP_MASK in REMOVED_GROUPS:
            action = prof.REMOVE  # curve data and overlay planes: the whole group goes
        if action is None or action == prof.KEEP:
            if is_sequence(elems[tag], tag):
                for item in ds[tag].value or ():
                    walk(item, run, mode)
            elif mode and action is None:
                _text_in_sequence(ds[tag], run, mode)
            continue
        if action == prof.REMOVE:
            del ds[tag]
            counts[(tag, REMOVED)] += 1
            continue
        raw = elems[tag]
        if isinstance(raw, RawDataElement) and apply_raw(elems, tag, raw, action, run):
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            _apply_sequence(elem, action, run, mode)
        else:
            apply_value(elem, action, run)
    if private:
        private_elements(ds, private, run)


def _apply_sequence(elem: DataElement, action: str, run: Run, mode: int) -> None:
    """A sequence's action: ``Z`` empties it; ``D`` and ``C`` walk its items in the
    dummy or clean text mode; any other walks them as they are."""
    tag = int(elem.tag)
    counts = run.counts
    if action == prof.EMPTY:
        elem.value = Sequence()
        counts[(tag, EMPTIED)] += 1
        return
    inner = mode
    if action == prof.DUMMY:
        inner = DUMMY_TEXT
        counts[(tag, REPLACED)] += 1
    elif action == prof.CLEAN:
        inner = max(mode, CLEAN_TEXT)
        counts[(tag, CLEANED)] += 1
    for item in elem.value or ():
        walk(item, run, inner)


def _text_in_sequence(elem: DataElement, run: Run, mode: int) -> None:
    """Free text not listed in Table E.1-1 inside a D (dummy) or C (clean) sequence."""
    vr = elem.VR
    tag = int(elem.tag)
    if mode == DUMMY_TEXT and vr in FREE_TEXT_VRS:
        if elem.value not in (None, ""):
            elem.value = DUMMY_TEXT_VALUE
            run.counts[(tag, REPLACED)] += 1
    elif vr in CLEANABLE_VRS and scrub_element(elem, run):
        run.counts[(tag, CLEANED)] += 1
