"""De-identify one file and clean its burned-in text (PS3.15 E.1.1 + E.3.1) in one step.

The identifying values are read from the header *before* de-identification (the
profile replaces them), the file is de-identified (:mod:`uploads.dicom.deidentify`),
then a file whose pixels need review (:func:`uploads.dicom.deidentify.pixel_review`), or
that arrives already cleaned by the browser (its De-identification Method Code Sequence
holds 113101), or for which regions are given, goes through
:func:`uploads.dicom.pixels.clean_dataset`.

:func:`hold_reason` decides whether a person must still look at the image before it is
released (see docs/burned-in-text.md). Plain Python: no Django, no Celery.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite

from uploads.dicom.deidentify import DeidOptions, DeidResult, deidentify_encoded
from uploads.dicom.index import check_limits, index_dataset
from uploads.dicom.pixels import CLEAN_PIXEL_CODE, Cleaning, add_clean_code, clean_dataset
from uploads.dicom.words import identifying_words

__all__ = ["CleanedFile", "already_cleaned", "deidentify_and_clean", "hold_reason"]

#: Reasons an image is held for an admin (plain words, shown on the review page).
HOLD_RESIDUAL = "identifying text is still readable after cleaning"
HOLD_NO_OCR = "text could not be read automatically on this server"
HOLD_UNMATCHED = "the file says text is burned in, but none of it matched the patient's details"
HOLD_UNDECODABLE = "the image could not be decoded here to look for burned-in text"
HOLD_SUSPECT = "cleaned in the browser, but dates or long numbers are still readable"
#: Words that look identifying whoever the patient is: dates and long numbers (IDs).
_SUSPECT = re.compile(r"^(\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{6,})$")


@dataclass
class CleanedFile:
    data: bytes
    result: DeidResult
    dataset: Dataset
    cleaning: Cleaning | None  #: None when the pixels were not looked at
    hold: str  #: why an admin must confirm the image, or ""


def _header(data: bytes) -> tuple[list[str], bool]:
    """The identifying words of the original header, and whether it says its pixels were
    cleaned already (de-identification rewrites the method codes, so look first)."""
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
        return identifying_words(ds), already_cleaned(ds)
    except Exception:  # the de-identification reports what is wrong with the file
        return [], False


def already_cleaned(ds: Dataset) -> bool:
    """Whether ``ds`` says its pixels were cleaned (code 113101, PS3.15 E.3.1)."""
    try:
        items = ds.get("DeidentificationMethodCodeSequence", []) or []
        return any(str(i.get("CodeValue", "")) == CLEAN_PIXEL_CODE[0] for i in items)
    except Exception:
        return False


def hold_reason(
    review: str, cleaning: Cleaning, browser_cleaned: bool, *, ocr_wanted: bool = True
) -> str:
    """Why a person must confirm the image before its study is released, or "".

    Held: identifying words still read after cleaning; no OCR on this server; a file
    whose header says text is burned in (Burned In Annotation YES) where OCR matched
    nothing and nothing was masked (the OCR may have missed it); a browser-cleaned file
    where dates or long numbers are still readable. Not held: a file flagged only for its
    modality or SOP class (ultrasound, secondary capture…) in which OCR found no
    identifying word — flagged on the worklist as before ("burned-in text?").
    """
    if ocr_wanted and not cleaning.ocr:
        return HOLD_NO_OCR
    if cleaning.residual:
        return HOLD_RESIDUAL
    if browser_cleaned and any(_SUSPECT.match(b.text.strip(".,:;")) for b in cleaning.boxes):
        return HOLD_SUSPECT
    if review.startswith("Burned In Annotation is YES") and not cleaning.masked:
        return HOLD_UNMATCHED
    return ""


def deidentify_and_clean(
    data: bytes,
    *,
    key: bytes,
    options: DeidOptions | None = None,
    uid_root: str,
    uid_scope: str = "",
    clean: bool = True,
    regions: Sequence[dict[str, int]] = (),
    ocr: bool = True,
    names: Iterable[str] = (),
) -> CleanedFile:
    """De-identify ``data``; with ``clean``, detect and mask burned-in identifying text
    of a file that needs pixel review (plus ``regions``, in every frame); ``names`` are
    cut out of kept descriptors (:func:`deidentify_encoded`). Raises
    :class:`~uploads.dicom.errors.DicomInputError` for bad input, like
    :func:`deidentify_encoded`; pixels that cannot be decoded are kept and held."""
    words, browser_cleaned = _header(data) if clean else ([], False)
    encoded, result, ds = deidentify_encoded(
        data, key=key, options=options, uid_root=uid_root, uid_scope=uid_scope, names=names
    )
    wanted = clean and "PixelData" in ds
    if not wanted or not (result.needs_pixel_review or regions or browser_cleaned):
        return CleanedFile(encoded, result, ds, None, "")
    try:
        check_limits(index_dataset(ds), int(ds.get("SamplesPerPixel", 1) or 1))
    except Exception:  # too large to decode here: the caller refuses it as it would anyway
        return CleanedFile(encoded, result, ds, None, HOLD_UNDECODABLE)
    try:
        cleaning = clean_dataset(ds, words, regions=regions, ocr=ocr)
        if browser_cleaned and not cleaning.masked:
            add_clean_code(ds)  # cleaned in the browser: the record stays with the file
        if cleaning.masked or browser_cleaned:
            out = io.BytesIO()
            dcmwrite(out, ds, enforce_file_format=True)
            encoded = out.getvalue()
    except Exception:  # pixels no decoder here can read: kept as they are, and held
        ds = dcmread(io.BytesIO(encoded))  # the data set as written, not as half-cleaned
        return CleanedFile(encoded, result, ds, None, HOLD_UNDECODABLE)
    return CleanedFile(
        encoded,
        result,
        ds,
        cleaning,
        hold_reason(result.pixel_review_reason, cleaning, browser_cleaned, ocr_wanted=ocr),
    )
