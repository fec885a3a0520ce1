"""Private elements (odd groups): the safe allow-list of the profile JSON kept with its
Private Creators (PS3.15 E.3.10, Retain Safe Private Option), every other one removed."""

from __future__ import annotations

import re
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from uploads.dicom import profile as prof
from uploads.dicom.constants import (
    BINARY_SIZES,
    KEPT_SAFE_PRIVATE,
    REMOVED,
    SAFE_PRIVATE_TEXT_PATTERN,
    SAFE_PRIVATE_TEXT_VRS,
)
from uploads.dicom.deid.elements import values_of
from uploads.dicom.deid.run import Run

_SAFE_TEXT_RE = re.compile(SAFE_PRIVATE_TEXT_PATTERN)


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
        if row.vr in BINARY_SIZES:
            return vr == row.vr or len(data) % BINARY_SIZES[row.vr] == 0
        try:
            texts = data.decode("ascii").split("\\")
        except UnicodeDecodeError:
            return False
    else:
        elem = ds[tag]
        if row.vr != elem.VR:
            return False
        if row.vr in BINARY_SIZES:
            return True
        texts = [str(v) for v in values_of(elem)]
    return row.vr in SAFE_PRIVATE_TEXT_VRS and all(_SAFE_TEXT_RE.match(t) for t in texts)


def private_elements(ds: Dataset, tags: list[int], run: Run) -> None:
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
