"""Celery tasks of exports: thin wrappers around ``exports`` owning the retries.

Task names are those of the module before it moved (``uploads.tasks_export.*``): queued
messages and the beat schedule keep working.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError

from portal.errors import TRANSIENT
from portal.oncommit import after_commit
from uploads.sharing import exports

log = logging.getLogger(__name__)

MAX_RETRIES = 5
TIME_LIMIT = int(settings.EXPORT_TIME_LIMIT)


@shared_task(
    name="uploads.tasks_export.build_export",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=TIME_LIMIT,
    time_limit=TIME_LIMIT + 60,
)
def build_export(self: Any, export_id: int) -> str:
    """Build one export; idempotent (a finished or running export is left alone)."""
    try:
        return exports.build(export_id)
    except SoftTimeLimitExceeded:
        exports.fail(export_id, "the export took too long to build")
        return "timed out"
    except TRANSIENT as exc:
        log.warning("export %s: transient %s", export_id, type(exc).__name__)
        if self.request.retries >= MAX_RETRIES:
            exports.fail(export_id, "the export could not be built; please try again later")
            raise
        with contextlib.suppress(DatabaseError):  # else the claim goes stale: taken again
            exports.release(export_id)
        raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 300)) from exc


def schedule(export_id: int) -> None:
    """Queue the build once the current transaction has committed.

    Robust: with the broker down the request still succeeds and the export stays
    "waiting"; asking for the same export again sends it again.
    """
    after_commit(build_export.delay, export_id)


@shared_task(
    name="uploads.tasks_export.purge_expired_exports",
    acks_late=True,
    max_retries=3,
    retry_backoff=True,
    autoretry_for=TRANSIENT,
)
def purge_expired_exports() -> int:
    """Periodic: delete the files of expired exports."""
    return exports.purge_expired()
