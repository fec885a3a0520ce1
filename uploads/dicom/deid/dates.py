"""The date shift of Retain Longitudinal Temporal Information with Modified Dates
(PS3.15 E.3.6): every date of a patient moves by the same keyed number of days
(:func:`uploads.dicom.uids.date_shift_days`), so intervals are kept."""

from __future__ import annotations

import datetime
import re

from pydicom.dataelem import DataElement

from uploads.dicom.constants import (
    DA_PATTERN,
    DATE_SHIFTED,
    DT_PATTERN,
    EMPTIED,
    TAGS,
    TIMEZONE_PATTERN,
)
from uploads.dicom.deid.elements import set_values, values_of
from uploads.dicom.deid.run import Run

_DA_RE = re.compile(DA_PATTERN)
_DT_RE = re.compile(DT_PATTERN)
_TZ_RE = re.compile(TIMEZONE_PATTERN)
_TIMEZONE_OFFSET = TAGS["TimezoneOffsetFromUTC"]


def shift_value(value: str, vr: str, days: int) -> str | None:
    """A DA value, or the date part of a DT value, moved by ``days``; None when it is not
    a complete calendar date or would leave years 1-9999."""
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


def shifted(
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
        moved = [shift_value(v, vr, shift) for v in values]
        if None not in moved:
            return [v for v in moved if v is not None], DATE_SHIFTED
    return [], EMPTIED


def shift_element(elem: DataElement, run: Run) -> None:
    """Date shift on a converted element (see :func:`shifted`)."""
    new, done = shifted(int(elem.tag), elem.VR, [str(v) for v in values_of(elem)], run.shift)
    if done is None:
        return
    if new:
        set_values(elem, new)
    else:
        elem.value = elem.empty_value
    run.counts[(int(elem.tag), done)] += 1
