"""Celery tasks of the ingest pipeline: thin wrappers that own the retry policy."""

from __future__ import annotations

import logging
from functools import partial

from celery import Task, shared_task
from django.db import transaction

from uploads import ingest
from uploads.ingest import TRANSIENT

log = logging.getLogger(__name__)


@shared_task(
    bind=True,
    ignore_result=True,  # the outcome is in the database; no result round trip to Redis
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=8,
    retry_backoff=True,
    retry_backoff_max=300,
)
def ingest_file(self: Task, file_id: int) -> str:
    try:
        outcome = ingest.process_file(file_id)
    except TRANSIENT as exc:
        # The run's transaction rolled back: the file is "received" again.
        log.warning("upload file %s: transient %s, retrying", file_id, type(exc).__name__)
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 300)) from exc
    if outcome is None:
        return "nothing to do"
    schedule(outcome.follow_up)
    return outcome.status


def schedule(file_ids: list[int]) -> None:
    """Queue files for ingest once the current transaction has committed."""
    # robust: with the broker down the request still succeeds; the file stays "received"
    # and requeue_stale_files sends it once the broker is back.
    for file_id in file_ids:
        transaction.on_commit(partial(ingest_file.delay, file_id), robust=True)


@shared_task
def requeue_stale_files() -> int:
    """Periodic safety net: re-send files whose task was lost or whose worker died.
    The claim in ``ingest.process_file`` makes a duplicate delivery harmless."""
    stale = ingest.stale_files()
    for file_id in stale:
        ingest_file.delay(file_id)
    return len(stale)


@shared_task(
    acks_late=True, ignore_result=True, max_retries=3, retry_backoff=True, autoretry_for=TRANSIENT
)
def prerender_study(study_id: int) -> int:
    """Thumbnails and default-window slices into the cache, so the first look is fast."""
    from uploads.dicom.errors import DicomInputError
    from uploads.models import Instance
    from uploads.rendering import prerender

    rendered = 0
    for instance in Instance.objects.filter(series__study_id=study_id, has_pixels=True):
        try:
            rendered += prerender(instance)
        except DicomInputError as exc:
            log.info("instance %s not pre-rendered: %s", instance.pk, exc)
    return rendered


from uploads.tasks_export import build_export, purge_expired_exports  # noqa: E402,F401
