"""Celery tasks of intake: thin wrappers that own the retry policy.

Task names are those of the module before it moved (``uploads.tasks.*``): queued
messages and the beat schedule keep working.

How ingest runs are queued. A run (:func:`ingest_upload`) processes a batch of one
upload's received files. A file that arrives does not queue a run of its own; it makes
sure one is coming: each upload has ``INGEST_PARALLEL`` slots, and a file "kicks" its
slot by setting the slot's key in the cache (SET NX, :func:`kick`). Only the file that
sets the key queues a run; the run deletes the key *before* it claims files. So when a
file finds the key set, a run that has not yet claimed is on its way and will see the
file, which was committed before. A run that took a full batch (or unpacked a ZIP)
queues the next run of its slot itself. Thus one message per batch instead of one per
file, and up to ``INGEST_PARALLEL`` workers on one upload.

If the cache is down every file queues a run (an extra run finds nothing to do); if a
run is lost, the key expires after ``KICK_SECONDS`` and ``requeue_stale_files`` re-sends
the upload's files once their claim is stale.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.conf import settings
from django.core.cache import cache

from portal.errors import TRANSIENT
from portal.oncommit import after_commit
from uploads.intake import ingest, quarantine, watchdog

log = logging.getLogger(__name__)

#: A kick older than this is forgotten (its run was lost): the next file queues a run.
KICK_SECONDS = 30


def kick_key(upload_id: int, slot: int) -> str:
    return f"ingest:kick:{upload_id}:{slot}"


def schedule(upload_id: int, file_ids: list[int]) -> None:
    """Have the files ingested once the current transaction has committed."""
    # robust: with the broker down the request still succeeds; the files stay "received"
    # and requeue_stale_files sends them once the broker is back.
    for slot in sorted({file_id % settings.INGEST_PARALLEL for file_id in file_ids}):
        after_commit(kick, upload_id, slot)


def kick(upload_id: int, slot: int) -> None:
    """Queue a run for the upload's slot unless one is queued and has not claimed yet."""
    key = kick_key(upload_id, slot)
    try:
        if not cache.add(key, 1, KICK_SECONDS):
            return  # a run is on its way and will see this file
    except Exception as exc:  # the cache is down: queue a run anyway
        log.warning("ingest kick without cache (%s)", type(exc).__name__)
        ingest_upload.delay(upload_id)
        return
    try:
        ingest_upload.delay(upload_id, slot)
    except Exception:
        forget(key)  # no run is coming: the next file must try again
        raise


def forget(key: str) -> None:
    try:
        cache.delete(key)
    except Exception as exc:
        log.warning("ingest kick not cleared (%s)", type(exc).__name__)


@shared_task(
    name="uploads.tasks.ingest_upload",  # the name queued messages carry: keep it
    bind=True,
    ignore_result=True,  # the outcome is in the database; no result round trip to Redis
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=8,
    retry_backoff=True,
    retry_backoff_max=300,
)
def ingest_upload(self: Task, upload_id: int, slot: int | None = None) -> str:
    """Ingest a batch of the upload's received files; queue the next run if more wait."""
    if slot is not None:
        forget(kick_key(upload_id, slot))  # before the claim: files that come later kick again
    try:
        batch = ingest.process_batch(upload_id)
    except TRANSIENT as exc:
        # The run's transaction rolled back: the files are "received" again.
        log.warning("upload %s: transient %s, retrying", upload_id, type(exc).__name__)
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 300)) from exc
    if batch.more:
        ingest_upload.delay(upload_id, slot)
    return f"{len(batch.outcomes)} files"


@shared_task(name="uploads.tasks.requeue_stale_files", ignore_result=True)
def requeue_stale_files() -> int:
    """The watchdog (``uploads/intake/watchdog.py``), every ``UPLOAD_WATCHDOG_SECONDS``: re-send
    uploads whose files lost their run, and flag uploads that will not end on their own.
    The claim in ``ingest.process_batch`` makes a duplicate delivery harmless. Returns
    how many uploads were re-sent."""
    return watchdog.check(send=ingest_upload.delay)["requeued"]


@shared_task(name="uploads.tasks.sweep_quarantine", ignore_result=True)
def sweep_quarantine() -> int:
    """Periodic: delete quarantined parts that no waiting file owns (see the function)."""
    return quarantine.sweep_orphans()
