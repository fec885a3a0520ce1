"""De-identify a data set or an encoded file: PS3.15 Annex E, Basic Application Level
Confidentiality Profile (E.1.1) with options (E.3). See :mod:`uploads.dicom.deidentify`
for what each action does."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from uploads.dicom import profile as prof
from uploads.dicom.constants import MESSAGES
from uploads.dicom.deid.elements import quiet, text
from uploads.dicom.deid.files import is_dicomdir, read, transfer_syntax, write
from uploads.dicom.deid.identity import (
    PATIENT_ID,
    SERIES_UID,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    STUDY_UID,
    issued_here,
    patient_identity,
)
from uploads.dicom.deid.markers import add_deidentification_attributes
from uploads.dicom.deid.names import (
    identifier_tokens,
    name_parts,
    names_pattern,
    person_names,
    scrub_pattern,
)
from uploads.dicom.deid.options import DeidOptions
from uploads.dicom.deid.results import DeidResult
from uploads.dicom.deid.review import pixel_review, pixels_cleaned
from uploads.dicom.deid.run import Run
from uploads.dicom.deid.walk import NORMAL, walk
from uploads.dicom.encode import encode_file
from uploads.dicom.errors import DicomInputError
from uploads.dicom.uids import (
    DEFAULT_UID_ROOT,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    date_shift_days,
    patient_pseudonym,
    validate_uid_root,
)


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
    with quiet():
        try:
            extra = frozenset(names)
            return _deidentify(ds, key, options, (uid_root, uid_scope), compiled, edition, extra)
        except DicomInputError:
            raise
        except Exception as exc:
            raise DicomInputError(
                f"the file is damaged and could not be de-identified ({type(exc).__name__})"
            ) from None


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
    if is_dicomdir(ds):
        raise DicomInputError(MESSAGES["dicomdir"])
    sop_class = text(ds, SOP_CLASS_UID)
    if not sop_class or not text(ds, SOP_INSTANCE_UID):
        raise DicomInputError(MESSAGES["no_sop_uids"])
    review = pixel_review(ds)
    cleaned_pixels = pixels_cleaned(ds)
    identity = patient_identity(ds)
    if issued_here(ds, key, uid_root, uid_scope):
        # Our own output again (e.g. an exported study re-imported): keep the pseudonym
        # and do not move the dates a second time.
        pseudonym = text(ds, PATIENT_ID)
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
        scrub = scrub_pattern(identifier_tokens(ds))
        names_re = names_pattern(name_parts(person_names(ds) | names))
    run = Run(compiled, key, uid_root, uid_scope, pseudonym, shift, scrub, names_re)
    syntax = transfer_syntax(ds)

    walk(ds, run, NORMAL)
    add_deidentification_attributes(ds, run, options, edition, syntax, cleaned_pixels)

    sop_uid = text(ds, SOP_INSTANCE_UID)
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
        study_instance_uid=text(ds, STUDY_UID),
        series_instance_uid=text(ds, SERIES_UID),
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
    with quiet():
        ds = read(data)
        result = deidentify(
            ds, key=key, options=options, uid_root=uid_root, uid_scope=uid_scope, names=names
        )
        try:
            encoded = encode_file(ds, data) or write(ds)
        except Exception as exc:
            raise DicomInputError(
                f"not readable: the file is truncated or damaged ({type(exc).__name__})"
            ) from None
    return encoded, result, ds


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
