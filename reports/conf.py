"""Settings of the reporting workflow, with their defaults (all optional).

``REPORT_TURNAROUND_HOURS`` (72)
    A request waiting longer than this since ``requested_at`` is overdue.
``REPORT_EMAIL_ATTACH_PDF`` (False)
    Attach the signed PDF to the "report ready" email (the email never carries text).
``REPORT_EMAIL_MAX_RETRIES`` (6)
    Retries of a failed email before its delivery is marked failed.
``REPORT_EMAIL_RETRY_DELAY`` (60)
    First retry delay in seconds; doubled on each retry, at most one hour.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def turnaround() -> timedelta:
    return timedelta(hours=float(settings.REPORT_TURNAROUND_HOURS))


def attach_pdf() -> bool:
    return bool(settings.REPORT_EMAIL_ATTACH_PDF)


def email_max_retries() -> int:
    return int(settings.REPORT_EMAIL_MAX_RETRIES)


def email_retry_delay(retries: int) -> int:
    """Seconds before retry number ``retries + 1``: exponential, capped at an hour."""
    base = int(settings.REPORT_EMAIL_RETRY_DELAY)
    return int(min(base * 2**retries, 3600))
