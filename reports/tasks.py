"""Celery tasks of the reporting workflow: thin wrappers that own the retry policy.

Both are idempotent: a PDF already stored is not generated again, and a delivery
already marked sent is not emailed again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from portal.errors import TRANSIENT
from reports import conf, delivery, pdf

log = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    max_retries=5,
    retry_backoff=True,
    retry_backoff_max=600,
)
def generate_report_pdf(self, version_id: int) -> str:
    """Render the signed version's PDF into storage; returns its storage name."""
    return pdf.ensure_pdf(version_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def send_report_email(self, delivery_id: int) -> str:
    """Email the uploader that a report is ready; retry SMTP failures with backoff.

    After ``REPORT_EMAIL_MAX_RETRIES`` retries the delivery is marked failed (the report
    itself is untouched) and an admin can resend it from the deliveries page.
    """
    retries = self.request.retries
    max_retries = conf.email_max_retries()
    outcome = delivery.deliver(delivery_id, final=retries >= max_retries)
    if outcome.retry:
        log.info("delivery %s: retry %s of %s", delivery_id, retries + 1, max_retries)
        raise self.retry(
            exc=outcome.error,
            countdown=conf.email_retry_delay(retries),
            max_retries=max_retries,
        )
    return outcome.status


@shared_task
def requeue_stale_deliveries() -> int:
    """Periodic safety net: send deliveries whose task was lost (queued > 2 hours).

    Safe to overlap with a running retry chain: ``deliver`` locks the row and sends
    only while it is queued.
    """
    stale = delivery.stale_queued(timedelta(hours=2))
    for delivery_id in stale:
        send_report_email.delay(delivery_id)
    return len(stale)
