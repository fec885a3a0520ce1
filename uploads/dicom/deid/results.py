"""What a de-identification did: :class:`DeidResult` and its :class:`DeidAction` rows.

The action names (``REMOVED``, ``EMPTIED``, ... ``ADDED``) are defined in
``uploads/dicom/constants.py``, shared with the browser engine's report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydicom.datadict import keyword_for_tag

from uploads.dicom.deid.options import DeidOptions


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
            self._actions = action_rows(self.counts)
        return self._actions

    def action_for(self, keyword_or_tag: str) -> set[str]:
        """The actions applied to an attribute, by keyword or ``gggg,eeee`` tag."""
        key = keyword_or_tag.upper()
        return {a.action for a in self.actions if a.keyword.upper() == key or a.tag == key}


def action_rows(counts: Mapping[tuple[int, str], int]) -> list[DeidAction]:
    """The ``(tag, action) -> count`` tally as :class:`DeidAction` rows, sorted by tag
    (private tags without keyword)."""
    result = []
    for (tag, action), count in sorted(counts.items()):
        try:
            keyword = "" if (tag >> 16) & 1 else keyword_for_tag(tag)
        except Exception:
            keyword = ""
        result.append(DeidAction(f"{tag >> 16:04X},{tag & 0xFFFF:04X}", keyword, action, count))
    return result
