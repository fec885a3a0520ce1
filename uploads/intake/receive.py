"""Keep whole received files: register them, store their bytes in quarantine and queue
them for ingest, in one transaction. The way whole files enter the portal: the upload API
(single-file PUT and batch POST), the DICOM receiver (C-STORE) and ``import_dicom``.
(Chunked browser uploads assemble a file part by part in ``api``; ZIP members are
registered by ``ingest.expand_archive`` inside the archive's own transaction.)"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction

from uploads.intake import ingest, quarantine, quota
from uploads.intake.tasks import schedule
from uploads.models import FileStatus, Upload, UploadFile


def refusal(size: int, admission: quota.Admission) -> str:
    """Why a new file of ``size`` bytes is refused before its bytes are kept, or "" when
    it is admitted (and its space in the quota taken). The one rule for every way in."""
    if size == 0:
        return "empty file: not a DICOM file"
    if size > settings.UPLOAD_MAX_FILE_SIZE:
        limit = settings.UPLOAD_MAX_FILE_SIZE // 1024**2
        return f"too large: {size // 1024**2} MB (limit {limit} MB a file)"
    if not admission.fits(size):
        return quota.OVER_QUOTA
    return ""


def receive_whole(
    upload: Upload,
    entries: list[tuple[str, int]],
    data: bytes,
    name: str = "",
    *,
    queue: bool = True,
    names: list[str] | None = None,
) -> tuple[list[UploadFile], bool]:
    """Register and keep whole files (``data`` is their bytes one after the other) in one
    transaction, and queue them for ingest. Files the upload has already are answered
    with their state; their bytes are not written again. New files are admitted against
    the uploader's quota (:mod:`uploads.intake.quota`): one that does not fit, or is
    empty or too large (:func:`refusal`), is refused at once and its bytes are not kept.
    ``queue=False`` leaves the ingest to the caller (``import_dicom`` runs it in its own
    process). ``names``, one per entry, replaces ``name`` (kept only to explain a refusal).

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
            named = names or [name] * len(entries)
            new = [
                refused(upload, key, label, size, reason) if (reason := refusal(size, admission))
                else UploadFile(upload=upload, key=key, name=label, size=size, received=size,
                                status=FileStatus.RECEIVED)
                for (key, size), label in zip(entries, named, strict=True)
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


def ingest_here(upload_id: int) -> None:
    """Ingest the upload's received files in this process, batch after batch, until none
    is left to claim (files unpacked from ZIPs join the upload and are taken too); for
    callers that receive whole files with ``queue=False`` and wait for the outcome
    (``import_dicom``, in each of its processes, and the PACS import)."""
    while True:
        batch = ingest.process_batch(upload_id)
        if not batch.outcomes and not batch.more:
            return


def outcomes_by_study(
    upload: Upload, repeats: dict[int, int] | None = None
) -> dict[int | None, dict[str, Any]]:
    """What became of the upload's files, per study they made (``None``: files that made
    none): instances stored, duplicates (plus ``repeats``: extra copies of a file the
    caller sent, by file id), and the rejected files with their reasons. The one count
    behind ``import_dicom``'s and the PACS import's reports."""
    per_study: dict[int | None, dict[str, Any]] = defaultdict(
        lambda: {"instances_stored": 0, "duplicates": 0, "rejected": []}
    )
    for file in upload.files.select_related("instance__series").order_by("id"):
        row = per_study[file.instance.series.study_id if file.instance else None]
        row["duplicates"] += (repeats or {}).get(file.pk, 0)
        if file.status == FileStatus.STORED:
            row["instances_stored"] += 1
        elif file.status == FileStatus.DUPLICATE:
            row["duplicates"] += 1
        elif file.status == FileStatus.REJECTED:
            row["rejected"].append({"file": file.name, "reason": file.message})
    return dict(per_study)
