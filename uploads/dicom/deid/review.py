"""Whether the pixels need a human look before release: burned-in annotation, faces,
overlays in Pixel Data (PS3.15 E.1.1 note, E.3.1 Clean Pixel Data, E.3.2)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from uploads.dicom.constants import (
    CLEAN_PIXEL_CODE,
    OVERLAY_DATA_ELEMENT,
    OVERLAY_GROUP,
    OVERLAY_GROUP_MASK,
    OVERLAY_REVIEW_REASON,
    PIXEL_REVIEW_RULES,
    TAGS,
)
from uploads.dicom.deid.elements import elements, text

_METHOD_CODES = TAGS["DeidentificationMethodCodeSequence"]
_BURNED_IN = TAGS["BurnedInAnnotation"]


def pixel_review(ds: Dataset) -> str:
    """Why the pixels of ``ds`` need a human look before release, or ``""``.

    Rules, first match wins:

    1. Burned In Annotation (0028,0301) is ``YES``.
    2. Recognizable Visual Features (0028,0302) is ``YES`` (faces, PS3.15 E.3.2).
    3. A Secondary Capture or encapsulated document SOP class
       (:data:`uploads.dicom.constants.ALWAYS_REVIEW_SOP_CLASSES`): the header cannot
       vouch for captured content.
    4. Modality in :data:`uploads.dicom.constants.REVIEW_UNLESS_NO_MODALITIES` (US,
       endoscopy, photos, projection X-ray, OT ...) and Burned In Annotation is not ``NO``.
    5. An overlay group (60xx) without Overlay Data: the overlay lives in unused bits of
       Pixel Data, which this engine does not alter.

    Rules 1-4 are data (:data:`uploads.dicom.constants.PIXEL_REVIEW_RULES`), which the
    browser engine interprets the same way. CT, MR, PT, NM, RT, SEG and other
    cross-sectional or derived objects are only flagged by rules 1, 2 and 5.
    """
    for rule in PIXEL_REVIEW_RULES:
        value = text(ds, rule.tag).upper()
        if value in rule.values and not (
            rule.unless_tag is not None and text(ds, rule.unless_tag).upper() in rule.unless_values
        ):
            return rule.reason.replace("{value}", value)
    tags = elements(ds)  # the keys only: no element is converted
    overlay_groups = {t >> 16 for t in tags if (t >> 16) & OVERLAY_GROUP_MASK == OVERLAY_GROUP}
    if any(((g << 16) | OVERLAY_DATA_ELEMENT) not in tags for g in overlay_groups):
        return OVERLAY_REVIEW_REASON
    return ""


def pixels_cleaned(ds: Dataset) -> bool:
    """The input says its pixels were cleaned already (e.g. by the browser engine's box
    editor, before sending): Burned In Annotation NO and the Clean Pixel Data Option's
    code (PS3.15 E.3.1) in De-identification Method Code Sequence. Kept in the output."""
    if text(ds, _BURNED_IN).upper() != "NO" or _METHOD_CODES not in elements(ds):
        return False
    items = ds[_METHOD_CODES].value or ()
    return any(text(item, 0x00080100) == CLEAN_PIXEL_CODE[0] for item in items)
