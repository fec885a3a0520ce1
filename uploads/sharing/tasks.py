"""Celery tasks of exports and of share-link answers: thin wrappers around ``exports`` and
``notify`` owning the retries.

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

from portal.errors import MAIL_TRANSIENT, TRANSIENT
from portal.oncommit import after_commit
from reports import conf as mail_conf
from uploads.sharing import exports, notify

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


#: Brief failures of the answer email worth another try: the mail server, the database.
ANSWER_EMAIL_RETRIED: tuple[type[Exception], ...] = (*MAIL_TRANSIENT, DatabaseError)


@shared_task(
    name="uploads.sharing.send_answer_email",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def send_answer_email(self: Any, link_id: int) -> str:
    """Email the sharer that a reviewer answered (no answer text); idempotent.

    The mail server's (and the database's) brief failures are retried with backoff like the
    report email's (``REPORT_EMAIL_MAX_RETRIES``, ``REPORT_EMAIL_RETRY_DELAY``); then it
    gives up, logged (the in-portal notification is there already).
    """
    try:
        return notify.send_email(link_id)
    except ANSWER_EMAIL_RETRIED as exc:
        retries = self.request.retries
        if retries >= mail_conf.email_max_retries():
            log.warning("answer email of link %s: gave up (%s)", link_id, type(exc).__name__)
            return "failed"
        log.info("answer email of link %s: retry %s (%s)", link_id, retries + 1, type(exc).__name__)
        raise self.retry(
            exc=exc, countdown=mail_conf.email_retry_delay(retries), max_retries=None
        ) from exc


def schedule_answer_email(link_id: int) -> None:
    """Queue the email once the answer has committed (robust: a broker that is down does
    not fail the reviewer's request; the notification in the portal is there anyway)."""
    after_commit(send_answer_email.delay, link_id)
