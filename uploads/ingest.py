"""The ingest pipeline for one received file.

claim → read from quarantine → check size and hash → (ZIP: unpack into child files) →
de-identify with the engine → store the de-identified file → index Study/Series/Instance →
delete the quarantined original → when the whole upload is done, studies become ready.

Every step is idempotent: the stored file's name is derived from its de-identified UIDs,
the index rows are ``get_or_create``d under unique constraints, and a file is processed in
one transaction that locks its row, so a re-delivered task finds nothing left to do and a
dead worker's work is rolled back and done again, once.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, partial

import pydicom
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from uploads import quarantine
from uploads.dicom.deidentify import DeidOptions, deidentify_bytes
from uploads.dicom.errors import DicomInputError
from uploads.dicom.index import InstanceIndex, check_limits, index_dataset
from uploads.dicom.sources import is_zip, iter_zip
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

log = logging.getLogger(__name__)

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
#: Faults worth retrying: the database or the storage back-end was briefly unreachable.
TRANSIENT = (DatabaseError, OSError, ConnectionError, TimeoutError)
#: The message for a file that made the pipeline fail unexpectedly (a bug, logged).
INTERNAL_ERROR = "could not be processed (an error on our side); please contact us"


@dataclass
class Outcome:
    """What processing one file did; ``follow_up`` are child files (from a ZIP) to process."""

    file_id: int
    status: str
    message: str = ""
    study_id: int | None = None
    follow_up: list[int] = field(default_factory=list)


@cache
def deid_options() -> DeidOptions:
    return DeidOptions.from_names(settings.DEID_OPTIONS)


def server_key() -> bytes:
    return settings.DEID_SECRET.encode()


def uploader_key(user_id: int) -> bytes:
    """The key the browser uses for this uploader: derived, so the server secret never
    leaves the server, and stable, so the same uploader's files line up across uploads."""
    return hmac.new(server_key(), f"uploader:{user_id}".encode(), hashlib.sha256).digest()


def claim_timeout() -> timedelta:
    """A received file untouched this long has lost its task (tasks cannot run longer)."""
    return timedelta(seconds=settings.INGEST_CLAIM_TIMEOUT)


def process_file(file_id: int) -> Outcome | None:
    """Run the pipeline for one file. None when there was nothing to do (idempotence).

    The whole run is one transaction holding the file's row lock: a second delivery of
    the same task skips the locked row, and a worker that dies rolls back, leaving the
    file "received" for :func:`stale_files` to send again.
    """
    UploadFile.objects.filter(pk=file_id, status=FileStatus.RECEIVED).update(
        attempts=F("attempts") + 1  # deliveries, kept even when the run rolls back
    )
    with transaction.atomic():
        file = (
            UploadFile.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("upload")
            .filter(pk=file_id, status=FileStatus.RECEIVED)
            .exclude(upload__state=Upload.State.CANCELLED)
            .first()
        )
        if file is None:
            return None
        data = quarantine.read_all(file)
        if settings.INGEST_TEST_DELAY:  # fault-injection tests only (kill a worker mid-batch)
            time.sleep(settings.INGEST_TEST_DELAY)
        try:
            if len(data) != file.size:
                raise DicomInputError(
                    f"incomplete: {len(data)} of {file.size} bytes arrived; please upload it again"
                )
            if hashlib.sha256(data).hexdigest() != file.key:
                raise DicomInputError("the file arrived damaged; please upload it again")
            if is_zip(data):
                return expand_archive(file, data)
            return store_instance(file, data)
        except DicomInputError as exc:
            return finish(file, FileStatus.REJECTED, str(exc))
        except TRANSIENT:
            raise  # rolled back; the task retries
        except Exception as exc:
            # A bug on one odd file must not fail the same way at every re-delivery
            # forever: refuse the file. Only the exception's type is logged (no values).
            log.error("upload file %s: unexpected %s, file refused", file.pk, type(exc).__name__)
            return finish(file, FileStatus.REJECTED, INTERNAL_ERROR)


def store_instance(file: UploadFile, data: bytes) -> Outcome:
    upload = file.upload
    key = server_key()
    clean, result = deidentify_bytes(
        data, key=key, options=deid_options(), uid_root=settings.DEID_UID_ROOT
    )
    ds = pydicom.dcmread(io.BytesIO(clean), defer_size=1024)  # pixels present, not loaded
    if str(ds.get("SOPClassUID", "")) == DICOMDIR_SOP_CLASS:
        raise DicomInputError("CD index (DICOMDIR): used only to find the images")
    index = index_dataset(ds)
    if not index.has_pixels and "Image Storage" in pydicom.uid.UID(index.sop_class_uid).name:
        raise DicomInputError("not usable: an image file without pixel data")
    try:
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except Exception:  # a value pydicom cannot convert (wrong VR or length)
        raise DicomInputError("not usable: damaged Samples per Pixel value") from None
    check_limits(index, samples)
    name = f"studies/{index.study_uid}/{index.series_uid}/{index.sop_uid}.dcm"
    store_file(name, clean, index)
    with transaction.atomic():
        study, _ = Study.objects.get_or_create(
            owner=upload.owner,
            study_instance_uid=index.study_uid,
            defaults={
                "status": StudyStatus.PROCESSING,
                "patient_pseudonym": str(ds.get("PatientID", ""))[:64],
                "study_date": index.study_date,
                "description": index.study_description,
                "body_part": index.body_part,
                "clinical_question": upload.clinical_question,
                "history": upload.history,
                "urgency": upload.urgency,
            },
        )
        # One statement, no read-before-write (the through table's pair is unique).
        Upload.studies.through.objects.bulk_create(
            [Upload.studies.through(upload_id=upload.pk, study_id=study.pk)],
            ignore_conflicts=True,
        )
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
        instance, created = Instance.objects.get_or_create(
            series=series,
            sop_instance_uid=index.sop_uid,
            defaults={
                "sop_class_uid": index.sop_class_uid,
                "transfer_syntax": index.transfer_syntax,
                "instance_number": index.instance_number,
                "slice_position": index.slice_position,
                "rows": index.rows,
                "columns": index.columns,
                "frames": index.frames,
                "has_pixels": index.has_pixels,
                "pixel_spacing": list(index.pixel_spacing) if index.pixel_spacing else None,
                "needs_pixel_review": result.needs_pixel_review,
                "pixel_review_reason": result.pixel_review_reason[:255],
                "file": name,
                "size": len(clean),
            },
        )
        modalities = set(filter(None, study.modalities.split(","))) | {index.modality}
        modalities.discard("")
        if ",".join(sorted(modalities)) != study.modalities:
            study.modalities = ",".join(sorted(modalities))[:64]
            study.save(update_fields=["modalities", "updated_at"])
        file.instance = instance
        status = FileStatus.STORED if created else FileStatus.DUPLICATE
        message = "" if created else "already stored: this image was uploaded before"
        return finish(file, status, message, study_id=study.pk)


def store_file(name: str, clean: bytes, index: InstanceIndex) -> None:
    """Store the de-identified file once; never leave a partial copy behind.

    A copy left by an earlier attempt that no instance refers to (a full disk, a killed
    worker) is replaced unless it is complete; an instance's own file is kept as it is.
    A failed write is removed, so a retry starts clean.
    """
    if default_storage.exists(name):
        if (
            default_storage.size(name) == len(clean)
            or Instance.objects.filter(
                series__study__study_instance_uid=index.study_uid,
                series__series_instance_uid=index.series_uid,
                sop_instance_uid=index.sop_uid,
            ).exists()
        ):
            return
        default_storage.delete(name)  # a leftover of a failed attempt
    saved = quarantine.save_whole(name, clean)
    if saved != name:  # a concurrent save of the same instance won the name
        default_storage.delete(saved)


def expand_archive(file: UploadFile, data: bytes) -> Outcome:
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
) -> Outcome:
    with transaction.atomic():
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
            if created:
                written.append(child)
                quarantine.save_chunk(child, 0, entry.data)
                UploadFile.objects.filter(pk=child.pk).update(status=FileStatus.RECEIVED)
                children.append(child.pk)
        return finish(file, FileStatus.EXPANDED, f"archive with {len(children)} files")


def finish(
    file: UploadFile, status: str, message: str = "", study_id: int | None = None
) -> Outcome:
    """Record the file's fate, drop its quarantined bytes, and close the upload when done."""
    with transaction.atomic():
        upload = Upload.objects.select_for_update().get(pk=file.upload_id)
        UploadFile.objects.filter(pk=file.pk).update(
            status=status,
            message=message[:500],
            instance=file.instance,
            # The original name may carry personal data: keep it only to explain a rejection.
            name=file.name if status == FileStatus.REJECTED else "",
            updated_at=timezone.now(),
        )
        transaction.on_commit(lambda: quarantine.discard(file))
        close_if_done(upload)
    log.info("upload file %s: %s", file.pk, status)
    return Outcome(file.pk, status, message, study_id)


def close_if_done(upload: Upload) -> bool:
    """When every file of the upload is final, its studies are ready for review."""
    if upload.state != Upload.State.OPEN:
        return False
    counts = upload.files.aggregate(
        registered=Count("id", filter=Q(parent__isnull=True)),
        open=Count("id", filter=~Q(status__in=TERMINAL)),
    )
    if counts["registered"] < upload.expected_files or counts["open"]:
        return False  # files still to come or still in the pipeline
    upload.state = Upload.State.DONE
    upload.save(update_fields=["state"])
    now = timezone.now()
    upload.studies.filter(status__in=[StudyStatus.UPLOADING, StudyStatus.PROCESSING]).update(
        status=StudyStatus.READY, requested_at=now, updated_at=now
    )
    from uploads.tasks import prerender_study

    for study_id in upload.studies.values_list("pk", flat=True):
        # A warm-up only: a broker outage must not fail the request.
        transaction.on_commit(partial(prerender_study.delay, study_id), robust=True)
    return True


def stale_files() -> list[int]:
    """Files received long ago and still not processed: their task was lost (a broker
    restart) or their worker died (its transaction rolled back)."""
    lost = Q(status=FileStatus.RECEIVED, updated_at__lt=timezone.now() - claim_timeout())
    return list(
        UploadFile.objects.filter(lost)
        .exclude(upload__state=Upload.State.CANCELLED)
        .values_list("pk", flat=True)[:1000]
    )
