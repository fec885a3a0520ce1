"""Operations on an upload as a whole: cancel it, seal it ("send it as it is"), retry it.

One place for what the uploader's API (``uploads/intake/api.py``) and the admin Uploads page
(``uploads/intake/admin_views.py``) do to an upload. Each function runs in a transaction of its
own with the upload's row locked (``FOR NO KEY UPDATE``, after any file rows it locks:
the lock order of ``uploads.intake.ingest.finish_batch``), and is idempotent: on an upload that
has already ended (done or cancelled) it changes nothing.

``on_change``, when given, is called inside that transaction when the operation did change
something, with the locked upload and what was done as keyword counts (``refused``,
``skipped``, ``queued``: numbers only, never names), so an audit event commits (or rolls
back) with the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from uploads.intake import cases, quarantine
from uploads.intake.ingest import LIVE, close_if_done, revive
from uploads.intake.tasks import schedule
from uploads.models import TERMINAL, FileStatus, StudyStatus, Upload, UploadFile

#: The reason given to files that were still on their way when the upload was cancelled.
BY_UPLOADER = "cancelled by the uploader"
BY_ADMIN = "cancelled by an administrator"
#: The reason of a file the sender lists as not sent without saying why.
NOT_SENT = "not sent by your browser"
#: The reason of a file only partly received when an admin sent the upload as it is.
INCOMPLETE = "not used: only part of it had arrived when the upload was sent as it is"
#: At most this many waiting files are queued by one call (the rest: the watchdog).
QUEUE_LIMIT = 10000

OnChange = Callable[..., Any] | None


def cancel(upload_id: int, message: str = BY_UPLOADER, on_change: OnChange = None) -> Upload:
    """Stop a live upload: it is cancelled, and every file still on its way is refused
    with ``message``. The upload's quarantined bytes are deleted once the transaction
    has committed (right after it, when called inside an outer transaction). Its studies that
    were still waiting for it (and for no other live upload) are cancelled too: nobody
    asked for them to be read, and they must not stay "being prepared" for ever.

    The files are locked first, then the upload (the lock order of an ingest batch,
    ``uploads.intake.ingest.finish_batch``): a file a worker holds right now finishes normally
    (this waits, then sees it stored)."""
    with transaction.atomic():
        pending = list(
            UploadFile.objects.filter(upload_id=upload_id)
            .exclude(status__in=TERMINAL)
            .select_for_update()
        )
        upload = Upload.objects.select_for_update(no_key=True).get(pk=upload_id)
        if upload.state not in LIVE:
            return upload
        upload.state = Upload.State.CANCELLED
        upload.save(update_fields=["state"])
        UploadFile.objects.filter(pk__in=[file.pk for file in pending]).update(
            status=FileStatus.REJECTED, message=message[:500]
        )
        others = Upload.objects.filter(studies=OuterRef("pk"), state__in=LIVE).exclude(pk=upload_id)
        waiting = [StudyStatus.UPLOADING, StudyStatus.PROCESSING, StudyStatus.NEEDS_ATTENTION]
        upload.studies.filter(status__in=waiting).exclude(Exists(others)).update(
            status=StudyStatus.CANCELLED, updated_at=timezone.now()
        )
        cases.drop_if_empty(upload)
        if on_change is not None:
            on_change(upload, refused=len(pending))
    quarantine.clear_ended(upload_id)  # the refused files' parts, and any a killed worker left
    return upload


def seal(
    upload_id: int,
    skipped_reasons: Iterable[str] = (),
    on_change: OnChange = None,
    drop_incomplete: bool = False,
) -> Upload:
    """The sender has sent everything it will send: the upload ends done as soon as the
    files that arrived are processed (at once when none waits), and its studies go to
    the radiologists.

    ``skipped_reasons`` are the files the sender did not send, one reason each (no
    names); they are recorded once, even when the call is repeated. An upload that
    needed attention is open again, and what waits is queued.

    A file registered but not completely received is waited for (the sender's own
    "finish" comes after its last byte). With ``drop_incomplete`` such files are refused
    instead and their bytes deleted after the commit: an admin's "send it as it is"
    (no skipped files) ends an upload whose sender went away in the middle of a file."""
    reasons = list(skipped_reasons)
    incomplete: list[UploadFile] = []
    with transaction.atomic():
        if drop_incomplete:
            # Locked (files before the upload): a chunk completing one of them now is
            # waited for, and the file is then processed like any other, its bytes kept.
            incomplete = list(
                UploadFile.objects.filter(
                    upload_id=upload_id, status=FileStatus.RECEIVING
                ).select_for_update()
            )
        upload = Upload.objects.select_for_update(no_key=True).get(pk=upload_id)
        if upload.state not in LIVE:
            return upload
        UploadFile.objects.bulk_create(
            [
                UploadFile(upload=upload, key=f"skipped-{n:05d}", size=0,
                           status=FileStatus.REJECTED, message=reason or NOT_SENT)
                for n, reason in enumerate(reasons)
            ],
            ignore_conflicts=True,  # a retried request
        )  # fmt: skip
        UploadFile.objects.filter(pk__in=[file.pk for file in incomplete]).update(
            status=FileStatus.REJECTED, message=INCOMPLETE
        )
        upload.sealed = True
        upload.save(update_fields=["sealed"])
        revive(upload)
        queued = queue_waiting(upload)
        close_if_done(upload)
        if on_change is not None:
            facts = {"skipped": len(reasons), "queued": queued}
            if drop_incomplete:
                facts["refused"] = len(incomplete)
            on_change(upload, **facts)
    for file in incomplete:
        quarantine.discard(file)
    return upload


def retry(upload_id: int, on_change: OnChange = None) -> int:
    """Try a live upload again now: forget the watchdog's re-queues (its budget starts
    over), make an upload that needed attention open again (its studies are being
    prepared again), and queue every file waiting to be processed. Files keep their
    attempts: a file that keeps stopping the worker is still refused in the end.

    Returns how many files were queued (0 for an upload that has ended, or when no file
    waits: an upload whose sender went away needs its sender, or to be sent as it is)."""
    with transaction.atomic():
        upload = Upload.objects.select_for_update(no_key=True).get(pk=upload_id)
        if upload.state not in LIVE:
            return 0
        revive(upload)  # needs attention -> open; clears the re-queues of an open upload
        if upload.requeues or upload.requeued_at is not None:
            upload.requeues = 0
            upload.requeued_at = None
            upload.save(update_fields=["requeues", "requeued_at"])
        queued = queue_waiting(upload)
        close_if_done(upload)
        if on_change is not None:
            on_change(upload, queued=queued)
    return queued


def queue_waiting(upload: Upload) -> int:
    """Queue a run for the upload's received files once the transaction commits."""
    waiting = upload.files.filter(status=FileStatus.RECEIVED).values_list("pk", flat=True)
    ids = list(waiting[:QUEUE_LIMIT])
    schedule(upload.pk, ids)
    return len(ids)
