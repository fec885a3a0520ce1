"""Every upload ends: done, or "needs attention" with a reason the uploader understands.

Beat runs :func:`check` every ``UPLOAD_WATCHDOG_SECONDS`` (``make run`` starts beat as
``make stack`` does). It looks at two facts the database holds, never at a count:

1. **Stalled processing.** Files received but untouched for longer than the claim timeout
   lost their run (a broker restart, a worker that died). Their upload is re-queued, at
   most once per claim timeout; after ``UPLOAD_MAX_REQUEUES`` re-queues without progress
   it needs attention (admins see it on the Uploads page). It is still re-queued: a
   worker that comes back finishes it, and progress makes it open again
   (:func:`uploads.intake.ingest.revive`).
2. **An interrupted upload.** An open upload with nothing left to process and no activity
   for ``UPLOAD_IDLE_SECONDS``: the sender went away before sending everything (a closed
   laptop, a lost connection). It needs attention; the uploader can resume it (choose the
   same files again on the upload page) or send it as it is.
3. **Bytes left after the end.** An upload that ended (done, cancelled) whose clean-up
   did not run (the worker died right after the commit) has its quarantine emptied now,
   not an hour later by the orphan sweep: received bytes may still identify the patient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from portal.oncommit import after_commit
from uploads.intake import ingest, quarantine
from uploads.models import FileStatus, StudyStatus, Upload, UploadFile

log = logging.getLogger(__name__)

STALLED = (
    "Our server has not managed to prepare some of your files yet: a problem on our side. "
    "We have been told and are looking into it; you do not need to do anything."
)


def interrupted(received: int, expected: int) -> str:
    """The reason shown for an upload whose sender went away."""
    if expected > received:
        arrived = f"{received} of {expected} files were"
    else:
        arrived = "1 file was" if received == 1 else f"{received} files were"
    return (
        f"The upload stopped before all files arrived: {arrived} received. Open the "
        "upload page on the computer you sent them from and choose the same files to "
        "finish it, or send it as it is."
    )


def check(send: Callable[[int], Any], now: datetime | None = None) -> dict[str, int]:
    """One round: re-queue stalled uploads (``send(upload_id)`` queues a run once the
    round's transaction commits), flag those that will not end on their own, empty the
    quarantine of ended uploads whose clean-up was lost. Returns how many uploads were
    re-queued, how many now need attention, and how many were cleared."""
    now = now or timezone.now()
    requeued = attention = 0
    for upload_id in ingest.stale_uploads():
        outcome = requeue(upload_id, now, send)
        requeued += outcome != "skipped"
        attention += outcome == "attention"
    for upload_id, received in idle_uploads(now):
        with transaction.atomic():
            locked = Upload.objects.select_for_update(no_key=True).get(pk=upload_id)
            if locked.state == Upload.State.OPEN:
                flag(locked, interrupted(received, locked.expected_files))
                attention += 1
    cleared = [quarantine.clear_ended(upload_id) for upload_id in quarantine.uncleared()]
    return {"requeued": requeued, "attention": attention, "cleared": len(cleared)}


def requeue(upload_id: int, now: datetime, send: Callable[[int], Any]) -> str:
    """Send a stalled upload to a worker again: "requeued", "attention" (and requeued,
    past the budget), or "skipped" (re-queued less than a claim timeout ago)."""
    with transaction.atomic():
        upload = Upload.objects.select_for_update(no_key=True).get(pk=upload_id)
        if upload.requeued_at and upload.requeued_at > now - ingest.claim_timeout():
            return "skipped"  # the last re-queue's run may still come
        upload.requeues += 1
        upload.requeued_at = now
        upload.save(update_fields=["requeues", "requeued_at"])
        outcome = "requeued"
        if upload.requeues > settings.UPLOAD_MAX_REQUEUES and upload.state == Upload.State.OPEN:
            flag(upload, STALLED)
            outcome = "attention"
        after_commit(send, upload_id)
    log.warning("upload %s: files not processed in time, re-queued (%s)", upload_id, outcome)
    return outcome


def idle_uploads(now: datetime) -> list[tuple[int, int]]:
    """Open uploads with nothing to process and no activity for ``UPLOAD_IDLE_SECONDS``,
    as (id, how many files were received)."""
    since = now - timedelta(seconds=settings.UPLOAD_IDLE_SECONDS)
    waiting = UploadFile.objects.filter(status=FileStatus.RECEIVED).values("upload_id")
    return list(
        Upload.objects.filter(state=Upload.State.OPEN, created_at__lt=since)
        .exclude(pk__in=waiting)
        .annotate(
            last=Max("files__updated_at"),
            received=Count(
                "files",
                filter=Q(files__parent__isnull=True)
                & ~Q(files__status=FileStatus.RECEIVING)
                & ~Q(files__key__startswith="skipped-"),
            ),
        )
        .filter(Q(last__lt=since) | Q(last__isnull=True))
        .values_list("pk", "received")[:1000]
    )


def flag(upload: Upload, reason: str) -> None:
    """Mark the upload (row locked) and its unfinished studies as needing attention."""
    upload.state = Upload.State.NEEDS_ATTENTION
    upload.attention = reason[:500]
    upload.save(update_fields=["state", "attention"])
    upload.studies.filter(status__in=[StudyStatus.UPLOADING, StudyStatus.PROCESSING]).update(
        status=StudyStatus.NEEDS_ATTENTION, updated_at=timezone.now()
    )
    log.warning("upload %s needs attention", upload.pk)
