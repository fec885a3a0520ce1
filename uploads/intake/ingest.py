"""The ingest pipeline, run on a batch of received files of one upload.

claim → read from quarantine → check size and hash → (ZIP: unpack into child files) →
de-identify with the engine → store the de-identified file → index Study/Series/Instance →
delete the quarantined original → when the whole upload is done, studies become ready.

A run takes the received files of one upload that no one else holds (up to
``INGEST_BATCH_SIZE``), so the database work is done once per batch instead of once per
file: one claim, one look-up of known instances, one insert of the new ones, one update of
the files, one check whether the upload is complete. Under light load a batch is one file;
when files arrive faster than they are processed, batches grow by themselves.
(How runs are queued: ``uploads/intake/tasks.py``.)

Every step is idempotent: the stored file's name is made by the server from the received
file's id (``uploads/storage.py``: never from anything the client sent, and never
replacing an existing object), the index rows are unique, and a batch is processed in
one transaction that locks its files' rows, so a re-delivered task finds nothing left to
do and a dead worker's work is rolled back and done again, once. Files claimed before by
a run that did not finish are processed one at a time, so a file that kills its worker
cannot take others with it.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.uid import UID

from portal.errors import TRANSIENT
from portal.oncommit import after_commit
from uploads import storage
from uploads.dicom.clean import deidentify_and_clean
from uploads.dicom.deidentify import DeidResult, names_in_file
from uploads.dicom.errors import DicomInputError
from uploads.dicom.index import InstanceIndex, check_limits, index_dataset
from uploads.dicom.sources import is_zip, iter_zip
from uploads.intake import cases, keys, quarantine, quota
from uploads.models import (
    TERMINAL,
    FileStatus,
    Instance,
    Series,
    Study,
    StudyStatus,
    Upload,
    UploadFile,
)
from uploads.viewer.tasks import queue_prerender

log = logging.getLogger(__name__)

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
#: The message for a file that made the pipeline fail unexpectedly (a bug, logged).
INTERNAL_ERROR = "could not be processed (an error on our side); please contact us"
GAVE_UP = "could not be processed: it stopped the processing several times; please contact us"
ALREADY_STORED = "already stored: this image was uploaded before"


@dataclass
class FileOutcome:
    """What processing one file did; ``follow_up`` are child files (from a ZIP) to process."""

    file_id: int
    status: str
    message: str = ""
    study_id: int | None = None
    follow_up: list[int] = field(default_factory=list)


@dataclass
class Prepared:
    """A received file, de-identified and indexed, waiting to be stored and indexed."""

    file: UploadFile
    clean: bytes
    index: InstanceIndex
    result: DeidResult
    pseudonym: str
    cleaning: dict[str, object] | None = None  #: burned-in text found and masked
    hold: str = ""  #: why an admin must confirm the image first


def claim_timeout() -> timedelta:
    """A received file untouched this long has lost its task (tasks cannot run longer)."""
    return timedelta(seconds=settings.INGEST_CLAIM_TIMEOUT)


# -- the batch ---------------------------------------------------------------------------


@dataclass
class Batch:
    """What one run did: an outcome per file processed (none when there was nothing to
    do), and whether received files may be left for another run: the batch was full, it
    left suspects aside (see :func:`claim_files`), or a ZIP was unpacked into new files."""

    outcomes: list[FileOutcome] = field(default_factory=list)
    more: bool = False


def process_file(file_id: int) -> FileOutcome | None:
    """Run the pipeline for this one file. None when there was nothing to do."""
    upload_id = UploadFile.objects.filter(pk=file_id).values_list("upload_id", flat=True).first()
    if upload_id is None:
        return None
    batch = process_batch(upload_id, only=file_id)
    return next((o for o in batch.outcomes if o.file_id == file_id), None)


def process_batch(upload_id: int, limit: int | None = None, only: int | None = None) -> Batch:
    """Run the pipeline for a batch of the upload's received files (or the one file
    ``only``).

    A transient fault (database, storage) rolls the whole batch back and is raised for
    the task to retry.
    """
    limit = limit or settings.INGEST_BATCH_SIZE
    ids, more = claim_files(upload_id, limit, only)
    batch = Batch(more=more)
    if not ids:
        return batch
    written: list[str] = []
    try:
        run_batch(ids, batch, written)
    except BaseException as exc:
        for name in written:  # stored for rows that rolled back: no instance uses them
            storage.delete_quietly(name)
        if isinstance(exc, TRANSIENT):
            give_back(ids)
        raise
    for outcome in batch.outcomes:
        log.info("upload file %s: %s", outcome.file_id, outcome.status)
    return batch


def run_batch(ids: list[int], batch: Batch, written: list[str]) -> None:
    """The claimed files, in one transaction that holds their row locks. ``written``
    collects the names of the files stored, for the caller to remove if it rolls back.

    The lock waits (no SKIP LOCKED): these files are this run's, and another run's claim
    may hold a row briefly (PostgreSQL keeps the lock of a row that ``SKIP LOCKED``
    locked and then dropped on re-checking its condition, until that claim commits).
    Skipping them would leave claimed files unprocessed until their claim went stale."""
    with transaction.atomic():
        files = list(
            UploadFile.objects.select_for_update(of=("self",))
            .select_related("upload")
            .filter(pk__in=ids, status=FileStatus.RECEIVED)
            .order_by("pk")
        )
        if not files:
            return
        upload = files[0].upload
        outcomes = batch.outcomes
        if upload.state == Upload.State.CANCELLED:  # a file that arrived as it was cancelled
            outcomes += [settle(f, FileStatus.REJECTED, "cancelled by the uploader") for f in files]
            finish_batch(upload, files)
            return
        if len(files) == 1 and files[0].attempts > settings.INGEST_MAX_ATTEMPTS:
            # Claimed this often without a run finishing: it stops the worker (memory?).
            outcomes.append(settle(files[0], FileStatus.REJECTED, GAVE_UP))
            log.error("upload file %s: given up after %s attempts", files[0].pk, files[0].attempts)
            finish_batch(upload, files)
            return
        prepared: list[Prepared] = []
        received, names = batch_names(files)
        for file in files:
            data = received.pop(file.pk, None)
            result = prepare(file, quarantine.read_all(file) if data is None else data, names)
            if isinstance(result, Prepared):
                prepared.append(result)
            else:
                outcomes.append(result)
        outcomes.extend(store_prepared(upload, prepared, written))
        finish_batch(upload, files)
    batch.more = batch.more or any(outcome.follow_up for outcome in outcomes)


def give_back(ids: list[int]) -> None:
    """A transient fault (database, storage) is not the files' doing: take back the
    attempts the claim counted, so the files are not treated as suspects. Best effort:
    with the database still away they stay counted (and are processed one at a time)."""
    try:
        if not connection.in_atomic_block:  # a broken connection is replaced
            connection.close_if_unusable_or_obsolete()
        UploadFile.objects.filter(pk__in=ids, status=FileStatus.RECEIVED, attempts__gt=0).update(
            attempts=F("attempts") - 1
        )
    except DatabaseError as exc:
        log.warning("attempts not given back (%s)", type(exc).__name__)


def claim_files(upload_id: int, limit: int, only: int | None = None) -> tuple[list[int], bool]:
    """Pick the files for a run and count the attempt (kept when the run dies; a transient
    fault gives it back, :func:`give_back`).

    The oldest received files of the upload that no other worker holds. A claim stamps
    ``updated_at``; a file claimed less than ``INGEST_CLAIM_TIMEOUT`` ago belongs to that
    run, which is about to lock it or is processing it, and is not claimed again (two
    runs claiming one file would count two attempts for one try). Files an earlier run
    claimed without finishing are suspects (that run may have died on one of them): once
    their claim is stale, a suspect is processed alone. Also returns whether files may be
    left over.
    """
    now = timezone.now()
    received = UploadFile.objects.filter(
        Q(attempts=0) | Q(updated_at__lt=now - claim_timeout()),
        upload_id=upload_id,
        status=FileStatus.RECEIVED,
    )
    if only is not None:
        received = received.filter(pk=only)
    with transaction.atomic():
        # Only the rows taken are locked: a suspect alone, or up to ``limit`` fresh files.
        ids = list(
            received.filter(attempts__gt=0)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:1]
        )
        more = bool(ids)  # others may wait behind a suspect
        if not ids:
            ids = list(
                received.filter(attempts=0)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", flat=True)[:limit]
            )
            more = len(ids) == limit
        if ids:
            UploadFile.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, updated_at=now)
    return ids, more


#: Received files up to this size are kept in memory from the names pass to their
#: de-identification; larger ones are read again (a batch's memory stays bounded).
KEEP_READ_BYTES = 16 * 1024**2


def batch_names(files: Iterable[UploadFile]) -> tuple[dict[int, bytes], frozenset[str]]:
    """Every person's name (PN value) in the batch's files, read before any of them is
    de-identified: Clean Descriptors cuts all of them out of every file's descriptors.
    Held in memory for the batch only, never stored or logged (docs/deidentification.md,
    "People's names in descriptors"). Also returns the small files' bytes, by file id."""
    names: set[str] = set()
    kept: dict[int, bytes] = {}
    for file in files:
        data = quarantine.read_all(file)
        names |= names_in_file(data)
        if len(data) <= KEEP_READ_BYTES:
            kept[file.pk] = data
    return kept, frozenset(names)


def prepare(
    file: UploadFile, data: bytes, names: frozenset[str] = frozenset()
) -> Prepared | FileOutcome:
    """Verify and de-identify one received file (``data``); ``names``: :func:`batch_names`.
    A file that cannot be used is settled here (rejected with its reason); a ZIP is
    unpacked into child files."""
    try:
        if len(data) != file.size:
            raise DicomInputError(
                f"incomplete: {len(data)} of {file.size} bytes arrived; please upload it again"
            )
        if hashlib.sha256(data).hexdigest() != file.key:
            raise DicomInputError("the file arrived damaged; please upload it again")
        if is_zip(data):
            return expand_archive(file, data)
        return deidentify(file, data, names)
    except DicomInputError as exc:
        return settle(file, FileStatus.REJECTED, str(exc))
    except TRANSIENT:
        raise  # the batch rolls back; the task retries
    except Exception as exc:
        return refuse_for_a_bug(file, exc)


def refuse_for_a_bug(file: UploadFile, exc: Exception) -> FileOutcome:
    """A bug on one odd file must not fail the same way at every re-delivery forever:
    refuse the file. Only the exception's type is logged (no values)."""
    log.error("upload file %s: unexpected %s, file refused", file.pk, type(exc).__name__)
    file.instance = None
    return settle(file, FileStatus.REJECTED, INTERNAL_ERROR)


def deidentify(file: UploadFile, data: bytes, names: frozenset[str] = frozenset()) -> Prepared:
    """De-identify (cutting ``names``, the people's names of the batch, out of kept
    descriptors); with ``DEID_CLEAN_PIXELS``, burned-in identifying text of files that
    need pixel review is found and masked too (``uploads/dicom/clean.py``)."""
    done = deidentify_and_clean(
        data,
        key=keys.server_key(),
        options=keys.deid_options(),
        uid_root=settings.DEID_UID_ROOT,
        uid_scope=keys.uid_scope(file.upload.owner_id),
        names=names,
        clean=settings.DEID_CLEAN_PIXELS,
    )
    clean, result, ds = done.data, done.result, done.dataset
    if str(ds.get("SOPClassUID", "")) == DICOMDIR_SOP_CLASS:
        raise DicomInputError("CD index (DICOMDIR): used only to find the images")
    index = index_dataset(ds)
    if not index.has_pixels and "Image Storage" in UID(index.sop_class_uid).name:
        raise DicomInputError("not usable: an image file without pixel data")
    check_limits(index, samples_per_pixel(ds))
    cleaning = done.cleaning.as_json() if done.cleaning is not None else None
    pseudonym = str(ds.get("PatientID", ""))[:64]
    return Prepared(file, clean, index, result, pseudonym, cleaning, done.hold[:255])


def samples_per_pixel(ds: Dataset) -> int:
    try:
        return int(ds.get("SamplesPerPixel", 1) or 1)
    except Exception:  # a value pydicom cannot convert (wrong VR or length)
        raise DicomInputError("not usable: damaged Samples per Pixel value") from None


def store_prepared(upload: Upload, items: list[Prepared], written: list[str]) -> list[FileOutcome]:
    """:func:`store_batch` in a savepoint. If it fails unexpectedly (a bug), the files are
    stored one at a time, so only the file at fault is refused and the rest go on."""
    mark = len(written)
    try:
        with transaction.atomic():
            return store_batch(upload, items, written)
    except TRANSIENT:
        raise  # the batch rolls back; the task retries
    except Exception as exc:
        for name in written[mark:]:  # the savepoint rolled back: no instance uses them
            storage.delete_quietly(name)
        del written[mark:]
        if len(items) > 1:
            return [o for item in items for o in store_prepared(upload, [item], written)]
        return [refuse_for_a_bug(items[0].file, exc)]


def store_batch(upload: Upload, items: list[Prepared], written: list[str]) -> list[FileOutcome]:
    """Store and index de-identified files: study and series rows once each, the new
    instances in one insert; an instance stored before (or twice in the batch) is a
    duplicate and its file is not written again.

    Instances are per owner: the same UIDs under another account are another study,
    another instance and another stored file (its name is made from the received file's
    id, :func:`uploads.storage.instance_name`)."""
    if not items:
        return []
    studies: dict[str, Study] = {}
    series: dict[tuple[str, str], Series] = {}
    for item in items:
        index = item.index
        if index.study_uid not in studies:
            studies[index.study_uid] = study_row(upload, item)
        if (index.study_uid, index.series_uid) not in series:
            series[index.study_uid, index.series_uid] = series_row(studies[index.study_uid], index)
    Upload.studies.through.objects.bulk_create(
        [Upload.studies.through(upload_id=upload.pk, study_id=s.pk) for s in studies.values()],
        ignore_conflicts=True,  # one statement, no read-before-write (the pair is unique)
    )
    cases.add_studies(upload, [s.pk for s in studies.values()])
    known = {
        (instance.series_id, instance.sop_instance_uid): instance
        for instance in Instance.objects.filter(
            series__in=list(series.values()),
            sop_instance_uid__in={item.index.sop_uid for item in items},
        )
    }
    rows = [series[item.index.study_uid, item.index.series_uid] for item in items]
    slots = [(row.pk, item.index.sop_uid) for row, item in zip(rows, items, strict=True)]
    new: dict[tuple[int, str], Instance] = {}
    for row, slot, item in zip(rows, slots, items, strict=True):
        if slot not in known and slot not in new:
            name = storage.store_new(
                storage.instance_name(upload.owner_id, item.file.pk), item.clean
            )
            written.append(name)
            new[slot] = instance_row(row, item, name)
    Instance.objects.bulk_create(new.values())  # PostgreSQL and SQLite return the ids
    for uid, study in studies.items():
        add_modalities(study, {i.index.modality for i in items if i.index.study_uid == uid})
    outcomes = []
    created: set[tuple[int, str]] = set()
    for row, slot, item in zip(rows, slots, items, strict=True):
        first = slot in new and slot not in created
        created.add(slot)
        item.file.instance = new[slot] if slot in new else known[slot]
        status, message = (
            (FileStatus.STORED, stored_note(item.result))
            if first
            else (FileStatus.DUPLICATE, ALREADY_STORED)
        )
        outcomes.append(settle(item.file, status, message, study_id=row.study_id))
    return outcomes


def stored_note(result: DeidResult) -> str:
    """What the uploader may want to know about a file stored as it should be."""
    count = result.invalid_uids
    if not count:
        return ""
    what = "identifier (UID) was" if count == 1 else "identifiers (UIDs) were"
    return f"stored; {count} {what} not valid DICOM and replaced by new ones"


def study_row(upload: Upload, item: Prepared) -> Study:
    index = item.index
    study, _ = Study.objects.get_or_create(
        owner_id=upload.owner_id,
        study_instance_uid=index.study_uid,
        defaults={
            "status": StudyStatus.PROCESSING,
            "patient_pseudonym": item.pseudonym,
            "study_date": index.study_date,
            "description": index.study_description,
            "body_part": index.body_part,
            "patient_sex": index.patient_sex,
            "patient_age": index.patient_age,
        },
    )
    return study


def series_row(study: Study, index: InstanceIndex) -> Series:
    series, _ = Series.objects.get_or_create(
        study=study,
        series_instance_uid=index.series_uid,
        defaults={
            "modality": index.modality,
            "description": index.series_description,
            "number": index.series_number,
            "body_part": index.body_part,
        },
    )
    return series


def instance_row(series: Series, item: Prepared, name: str) -> Instance:
    index = item.index
    return Instance(
        series=series,
        sop_instance_uid=index.sop_uid,
        sop_class_uid=index.sop_class_uid,
        transfer_syntax=index.transfer_syntax,
        instance_number=index.instance_number,
        slice_position=index.slice_position,
        rows=index.rows,
        columns=index.columns,
        frames=index.frames,
        has_pixels=index.has_pixels,
        pixel_spacing=list(index.pixel_spacing) if index.pixel_spacing else None,
        needs_pixel_review=item.result.needs_pixel_review,
        pixel_review_reason=item.result.pixel_review_reason[:255],
        pixel_cleaning=item.cleaning,
        pixel_hold=item.hold,
        file=name,
        size=len(item.clean),
    )


def add_modalities(study: Study, modalities: set[str]) -> None:
    merged = (set(filter(None, study.modalities.split(","))) | modalities) - {""}
    if ",".join(sorted(merged)) != study.modalities:
        study.modalities = ",".join(sorted(merged))[:64]
        study.save(update_fields=["modalities", "updated_at"])


def expand_archive(file: UploadFile, data: bytes) -> FileOutcome:
    """Unpack a ZIP into child files (the engine enforces traversal and bomb limits)."""
    children: list[int] = []
    written: list[UploadFile] = []
    try:
        outcome = _expand(file, data, children, written)
    except BaseException:
        # The child rows roll back: the parts already written for them must go too.
        for child in written:
            quarantine.discard(child)
        raise
    pending = list(
        UploadFile.objects.filter(pk__in=children, status=FileStatus.RECEIVED).values_list(
            "pk", flat=True
        )
    )
    outcome.follow_up = pending
    return outcome


def _expand(
    file: UploadFile, data: bytes, children: list[int], written: list[UploadFile]
) -> FileOutcome:
    with transaction.atomic():
        # The members count against the quota, not the archive they replace (the upload
        # row first: the lock order of finish_batch).
        Upload.objects.select_for_update(no_key=True).get(pk=file.upload_id)
        admission = quota.Admission(file.upload.owner_id, exclude=[file.pk])
        for entry in iter_zip(data, file.name or "archive.zip"):
            if entry.data is None:
                child = UploadFile.objects.create(
                    upload=file.upload, parent=file, key=f"skip-{file.pk}-{len(children)}",
                    name=entry.name[:255], size=0, status=FileStatus.REJECTED,
                    message=entry.reason[:500],
                )  # fmt: skip
                children.append(child.pk)
                continue
            digest = hashlib.sha256(entry.data).hexdigest()
            child, created = UploadFile.objects.get_or_create(
                upload=file.upload,
                key=digest,
                defaults={
                    "parent": file, "name": entry.name[:255], "size": len(entry.data),
                    "received": len(entry.data), "status": FileStatus.RECEIVING,
                },
            )  # fmt: skip
            if not created:
                continue  # the same bytes twice in the archive (or in the upload)
            children.append(child.pk)
            if not admission.fits(child.size):
                UploadFile.objects.filter(pk=child.pk).update(
                    status=FileStatus.REJECTED, message=quota.OVER_QUOTA
                )
                continue
            written.append(child)
            quarantine.save_chunk(child, 0, entry.data)
            UploadFile.objects.filter(pk=child.pk).update(status=FileStatus.RECEIVED)
        return settle(file, FileStatus.EXPANDED, f"archive with {len(children)} files")


# -- settling files and closing the upload ----------------------------------------------------


def settle(
    file: UploadFile, status: str, message: str = "", study_id: int | None = None
) -> FileOutcome:
    """Record a file's fate on the object; :func:`finish_batch` writes it."""
    file.status = status
    file.message = message[:500]
    # The original name may carry personal data: keep it only to explain a rejection.
    if status != FileStatus.REJECTED:
        file.name = ""
    file.updated_at = timezone.now()
    return FileOutcome(file.pk, status, message, study_id)


def finish_batch(upload: Upload, files: list[UploadFile]) -> None:
    """Write the files' fates in one statement, drop their quarantined bytes once the
    transaction commits, count the new instances' bytes against the quota, and close the
    upload when every file is done.

    Row locks are always taken in one order — the files, then the upload, then the
    uploader's usage row — by every transaction that takes more than one of them (the
    upload API, cancelling, unpacking a ZIP), so two of them never wait for each other.
    """
    write_fates(files)
    for file in files:
        transaction.on_commit(partial(quarantine.discard, file))
    retried = [f.pk for f in files if f.attempts > 1 and not kept_own_copy(upload, f)]
    if retried:
        transaction.on_commit(partial(drop_leftovers, upload.owner_id, retried))
    # FOR NO KEY UPDATE: serialises closing with other batches without blocking the
    # uploads' new file rows (their foreign key takes only a KEY SHARE lock).
    locked = Upload.objects.select_for_update(no_key=True).get(pk=upload.pk)
    stored = [f.instance.size for f in files if f.status == FileStatus.STORED and f.instance]
    quota.add_stored(upload.owner_id, sum(stored))  # a stored file is a new instance
    revive(locked)  # files were processed: progress
    close_if_done(locked)


def kept_own_copy(upload: Upload, file: UploadFile) -> bool:
    """The file was stored under its own name (:func:`uploads.storage.instance_name`)."""
    own = storage.instance_name(upload.owner_id, file.pk)
    return file.status == FileStatus.STORED and bool(file.instance and file.instance.file == own)


def drop_leftovers(owner_id: int, file_ids: list[int]) -> None:
    """A run killed after storing a file and before committing leaves that copy behind.
    When the file is taken again and ends otherwise — a duplicate of an instance another
    run stored meanwhile, refused, or stored under another name because the copy was cut
    short — the copy under the file's own name belongs to no instance: delete it. The
    name is made from this file's id, so nothing else can be stored there."""
    for file_id in file_ids:
        name = storage.instance_name(owner_id, file_id)
        try:
            if default_storage.exists(name) and not Instance.objects.filter(file=name).exists():
                storage.delete_quietly(name)
        except (OSError, DatabaseError) as exc:
            log.warning("leftover of file %s not checked (%s)", file_id, type(exc).__name__)


def revive(upload: Upload) -> None:
    """Progress on an upload (files processed or arriving): it is no longer stalled, and
    one that needed attention is open again (call with the upload's row locked)."""
    if upload.state == Upload.State.NEEDS_ATTENTION:
        upload.state = Upload.State.OPEN
        upload.attention = ""
        upload.studies.filter(status=StudyStatus.NEEDS_ATTENTION).update(
            status=StudyStatus.PROCESSING, updated_at=timezone.now()
        )
    elif upload.state != Upload.State.OPEN or not upload.requeues:
        return
    upload.requeues = 0
    upload.requeued_at = None
    upload.save(update_fields=["state", "attention", "requeues", "requeued_at"])


def write_fates(files: list[UploadFile]) -> None:
    """Save the files' status, message, name and instance in a few statements: one
    update per distinct outcome, and one for the instances.

    Not ``bulk_update``: it builds a CASE expression per row and field in Python, which
    cost 21 ms for a batch of 16 files here, more than de-identifying them.
    """
    now = timezone.now()
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for file in files:
        groups[file.status, file.message, file.name].append(file.pk)
    for (status, message, name), ids in groups.items():
        UploadFile.objects.filter(pk__in=ids).update(
            status=status, message=message, name=name, updated_at=now
        )
    linked = [(file.pk, file.instance.pk) for file in files if file.instance is not None]
    if not linked:
        return
    table = connection.ops.quote_name(UploadFile._meta.db_table)
    pk = connection.ops.quote_name("id")
    column = connection.ops.quote_name("instance_id")
    cases = " ".join(["WHEN %s THEN %s"] * len(linked))
    marks = ", ".join(["%s"] * len(linked))
    # Fixed table and column names, values as parameters: nothing from the request.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = CASE {pk} {cases} END WHERE {pk} IN ({marks})",  # noqa: S608
            [value for row in linked for value in row] + [file_id for file_id, _ in linked],
        )


#: States of an upload that may still end done.
LIVE = (Upload.State.OPEN, Upload.State.NEEDS_ATTENTION)


def close_if_done(upload: Upload) -> bool:
    """The upload is done when no file of it is on its way and the sender has sent
    everything: it said so (``sealed``: files whose bytes coincide are registered once,
    so a count cannot tell), or as many different files as it announced have arrived.
    Its studies are then ready for review. Call with the upload's row locked."""
    if upload.state not in LIVE:
        return False
    counts = upload.files.aggregate(
        registered=Count("id", filter=Q(parent__isnull=True)),
        open=Count("id", filter=~Q(status__in=TERMINAL)),
    )
    if counts["open"] or not (upload.sealed or counts["registered"] >= upload.expected_files):
        return False  # files still to come or still in the pipeline
    upload.state = Upload.State.DONE
    upload.attention = ""
    upload.save(update_fields=["state", "attention"])
    after_commit(quarantine.clear_ended, upload.pk)  # with what a killed worker left
    now = timezone.now()
    waiting = [StudyStatus.UPLOADING, StudyStatus.PROCESSING, StudyStatus.NEEDS_ATTENTION]
    # A study with an image held for an admin (burned-in text) waits for that check.
    upload.studies.filter(status__in=waiting).exclude(held_images()).update(
        status=StudyStatus.READY, updated_at=now
    )
    cases.settle(upload, now)
    for study_id in upload.studies.values_list("pk", flat=True):
        # A warm-up only (low priority): a broker outage must not fail the request.
        after_commit(queue_prerender, study_id)
    return True


def held_images() -> Exists:
    """The study has an image held for an admin's check (``Instance.pixel_hold``)."""
    return Exists(Instance.objects.filter(series__study=OuterRef("pk")).exclude(pixel_hold=""))


def stale_uploads() -> list[int]:
    """Uploads with files whose run was lost (see :func:`stale_files`)."""
    return sorted(set(lost_files().values_list("upload_id", flat=True)[:1000]))


def stale_files() -> list[int]:
    """Files received long ago and still not processed: their task was lost (a broker
    restart) or their worker died (its transaction rolled back)."""
    return list(lost_files().values_list("pk", flat=True)[:1000])


def lost_files() -> QuerySet[UploadFile]:
    # Files of cancelled uploads too: a run refuses them and clears their bytes.
    lost = Q(status=FileStatus.RECEIVED, updated_at__lt=timezone.now() - claim_timeout())
    return UploadFile.objects.filter(lost)
