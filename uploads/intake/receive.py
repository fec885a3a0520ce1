"""Keep whole received files: register them, store their bytes in quarantine and queue
them for ingest, in one transaction. Used by the upload API (single-file PUT and batch
POST) and the DICOM receiver (C-STORE)."""

from __future__ import annotations

from django.db import DatabaseError, transaction

from uploads.intake import quarantine, quota
from uploads.intake.tasks import schedule
from uploads.models import FileStatus, Upload, UploadFile


def receive_whole(
    upload: Upload, entries: list[tuple[str, int]], data: bytes, name: str = ""
) -> tuple[list[UploadFile], bool]:
    """Register and keep whole files (``data`` is their bytes one after the other) in one
    transaction, and queue them for ingest. Files the upload has already are answered
    with their state; their bytes are not written again. New files are admitted against
    the uploader's quota (:mod:`uploads.quota`): one that does not fit is refused at
    once and its bytes are not kept.

    Returns each entry's file, in order, and whether any was new.
    """
    written: list[UploadFile] = []
    try:
        with transaction.atomic():
            known = {
                f.key: f
                for f in UploadFile.objects.filter(upload=upload, key__in=[k for k, _ in entries])
            }
            admission = quota.Admission(upload.owner_id)
            new = [
                UploadFile(upload=upload, key=key, name=name, size=size, received=size,
                           status=FileStatus.RECEIVED)
                if admission.fits(size) else
                UploadFile(upload=upload, key=key, name=name, size=size, received=0,
                           status=FileStatus.REJECTED, message=quota.OVER_QUOTA)
                for key, size in entries
                if key not in known
            ]  # fmt: skip
            UploadFile.objects.bulk_create(new)  # PostgreSQL and SQLite return the ids
            fresh = {file.key: file for file in new if file.status == FileStatus.RECEIVED}
            offset = 0
            for key, size in entries:
                if key in fresh:
                    written.append(fresh[key])
                    quarantine.save_chunk(fresh[key], 0, data[offset : offset + size])
                offset += size
            schedule(upload.pk, [file.pk for file in fresh.values()])
            known.update({file.key: file for file in new})
    except (DatabaseError, OSError):
        for file in written:
            quarantine.discard(file)  # the rows rolled back: no orphaned bytes
        raise
    return [known[key] for key, _ in entries], bool(new)
