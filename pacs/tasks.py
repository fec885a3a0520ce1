"""Celery task of PACS imports: thin (an id in, the service does the work), with the retry
policy (ADIT's split: a fault worth retrying — the PACS away or busy, the database briefly
down — retries with backoff up to ``PACS_MAX_RETRIES``; anything else ends the import
"failed" with its reason). Idempotent: a finished import, or one another run is working
on, is left alone; a re-run skips the studies imported before."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from pacs import dimse, service
from pacs.models import PacsImport
from portal.errors import TRANSIENT
from portal.oncommit import after_commit

log = logging.getLogger(__name__)

TIME_LIMIT = int(settings.PACS_TIME_LIMIT)
#: Retried when ``retriable`` says so (a DICOM fault), always (the database, the network).
RETRY_ON: tuple[type[Exception], ...] = (dimse.DimseError, *TRANSIENT)


def backoff(retries: int) -> int:
    return int(min(30 * 2**retries, 900))


@shared_task(
    name="pacs.tasks.run_pacs_import",
    bind=True,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=TIME_LIMIT,
    time_limit=TIME_LIMIT + 60,
)
def run_pacs_import(self: Any, import_id: int) -> str:
    """Run one import (or the rest of it)."""
    if not service.claim(import_id):
        return "not waiting"
    job = PacsImport.objects.get(pk=import_id)
    # Then no new study: the next run goes on.
    deadline = time.monotonic() + 0.8 * settings.PACS_TIME_LIMIT
    try:
        outcome = service.run_import(job, deadline=deadline)
    except RETRY_ON as exc:
        retriable = getattr(exc, "retriable", True)
        reason = str(exc) if isinstance(exc, dimse.DimseError) else type(exc).__name__
        if retriable and self.request.retries < settings.PACS_MAX_RETRIES:
            service.finish(import_id, PacsImport.State.RETRYING, f"{reason}; trying again soon")
            raise self.retry(
                exc=exc, countdown=backoff(self.request.retries),
                max_retries=settings.PACS_MAX_RETRIES,
            ) from exc  # fmt: skip
        service.finish(import_id, PacsImport.State.FAILED, reason)
        return "failed"
    except service.PacsInputError as exc:
        service.finish(import_id, PacsImport.State.FAILED, str(exc))
        return "failed"
    except SoftTimeLimitExceeded:
        service.finish(import_id, PacsImport.State.QUEUED, "continuing in a new run")
        schedule(import_id)
        return "continues"
    if outcome.more:
        service.finish(import_id, PacsImport.State.QUEUED, "continuing in a new run")
        schedule(import_id)
        return "continues"
    if outcome.retriable and self.request.retries < settings.PACS_MAX_RETRIES:
        message = (
            f"{len(outcome.retriable)} studies not imported ({outcome.retriable[-1]}); "
            "trying again soon"
        )
        service.finish(import_id, PacsImport.State.RETRYING, message)
        raise self.retry(
            countdown=backoff(self.request.retries), max_retries=settings.PACS_MAX_RETRIES
        )
    service.finish(import_id, PacsImport.State.DONE, service.summary(outcome))
    return "done"


def schedule(import_id: int) -> None:
    """Queue the import once the current transaction has committed (robust: with the
    broker down the import stays "waiting to start" and can be started again)."""
    after_commit(run_pacs_import.delay, import_id)
