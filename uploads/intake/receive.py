"""Keep whole received files: register them, store their bytes in quarantine and queue
them for ingest, in one transaction. The way whole files enter the portal: the upload API
(single-file PUT and batch POST), the DICOM receiver (C-STORE) and ``import_dicom``.
(Chunked browser uploads assemble a file part by part in ``api``; ZIP members are
registered by ``ingest.expand_archive`` inside the archive's own transaction.)"""

from __future__ import annotations

from django.db import DatabaseError, transaction

from uploads.intake import quarantine, quota
from uploads.intake.tasks import schedule
from uploads.models import FileStatus, Upload, UploadFile

#: The reason given for a file of no bytes.
EMPTY = "empty file"


def receive_whole(
    upload: Upload,
    entries: list[tuple[str, int]],
    data: bytes,
    name: str = "",
    *,
    queue: bool = True,
) -> tuple[list[UploadFile], bool]:
    """Register and keep whole files (``data`` is their bytes one after the other) in one
    transaction, and queue them for ingest. Files the upload has already are answered
    with their state; their bytes are not written again. New files are admitted against
    the uploader's quota (:mod:`uploads.intake.quota`): one that does not fit is refused
    at once and its bytes are not kept; so is a file of no bytes. ``queue=False`` leaves
    the ingest to the caller (``import_dicom`` runs it in its own process).

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
                refused(upload, key, name, size, EMPTY) if size == 0 else
                UploadFile(upload=upload, key=key, name=name, size=size, received=size,
                           status=FileStatus.RECEIVED)
                if admission.fits(size) else
                refused(upload, key, name, size, quota.OVER_QUOTA)
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
            if queue:
                schedule(upload.pk, [file.pk for file in fresh.values()])
            known.update({file.key: file for file in new})
    except (DatabaseError, OSError):
        for file in written:
            quarantine.discard(file)  # the rows rolled back: no orphaned bytes
        raise
    return [known[key] for key, _ in entries], bool(new)


def refused(upload: Upload, key: str, name: str, size: int, reason: str) -> UploadFile:
    return UploadFile(upload=upload, key=key, name=name, size=size, received=0,
                      status=FileStatus.REJECTED, message=reason)  # fmt: skip
