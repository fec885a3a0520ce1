"""Telling the uploader a report is ready: in-portal notification and email.

The email carries a link to the report (login required) and nothing else about the
study: no findings, no impression, no names. Each email is a :class:`Delivery` row; the
Celery task ``reports.tasks.send_report_email`` calls :func:`deliver` and retries it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.audit.log import record
from portal.errors import MAIL_TRANSIENT
from portal.i18n import for_user
from reports import conf
from reports.models import Delivery, DeliveryStatus, Notification, ReportVersion
from reports.pdf import ensure_pdf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendOutcome:
    """What one send attempt did; ``retry`` tells the task to try again later."""

    status: str
    error: Exception | None = None

    @property
    def retry(self) -> bool:
        return self.error is not None and self.status == DeliveryStatus.QUEUED


def report_path(version: ReportVersion) -> str:
    return reverse("report-view", args=[version.report.review_request_id])


def queue_for_version(version: ReportVersion) -> list[int]:
    """Notify the uploader of a newly signed version; returns the deliveries to send.

    Call inside the signing transaction and schedule ``send_report_email`` for each
    returned id with ``transaction.on_commit``.
    """
    study = version.report.study
    owner = study.owner
    with for_user(owner):  # stored as text: written in the owner's language
        if version.is_addendum:
            text = _("The report for your study #%(study)s has an addendum.")
        else:
            text = _("The report for your study #%(study)s is ready.")
        text %= {"study": study.pk}
    Notification.objects.create(user=owner, text=text, link=report_path(version))
    if not owner.is_active or not owner.email:
        return []
    delivery = Delivery.objects.create(version=version, recipient=owner)
    record(None, "delivery.queued", delivery, version=version.pk)
    return [delivery.pk]


def describe(exc: BaseException) -> str:
    """A failure without personal data: the class and the SMTP code or errno only.

    Exception messages can quote the recipient's address, so they are not kept.
    """
    name = type(exc).__name__
    code = getattr(exc, "smtp_code", None)
    if code is not None:
        return f"{name} (SMTP {code})"
    errno = getattr(exc, "errno", None)
    if errno is not None:
        return f"{name} (errno {errno})"
    return name


def build_message(delivery: Delivery) -> EmailMultiAlternatives:
    """The "report ready" email of ``delivery``: plain text + HTML (+ PDF if configured)."""
    version = delivery.version
    study = version.report.study
    context = {
        "site_url": settings.SITE_URL,
        "link": settings.SITE_URL + report_path(version),
        "study_id": study.pk,
        "is_addendum": version.is_addendum,
    }
    # In the uploader's language, not that of whoever signed (or of the worker).
    with for_user(delivery.recipient):
        subject = render_to_string("emails/report_ready.subject.txt", context).strip()
        text = render_to_string("emails/report_ready.txt", context)
        html = render_to_string("emails/report_ready.html", context)
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, [delivery.recipient.email]
    )
    message.attach_alternative(html, "text/html")
    if conf.attach_pdf():
        name = ensure_pdf(version.pk)
        with default_storage.open(name, "rb") as handle:
            message.attach(
                f"report-study-{study.pk}-v{version.number}.pdf", handle.read(), "application/pdf"
            )
    return message


def deliver(delivery_id: int, *, final: bool = False) -> SendOutcome:
    """Send one delivery's email once.

    The row is locked while sending, and a row already marked sent is left alone, so a
    task delivered twice sends one email.

    Parameters
    ----------
    delivery_id
        The :class:`Delivery`.
    final
        This is the last attempt: a failure marks the delivery failed instead of
        leaving it queued for a retry.

    Returns
    -------
    SendOutcome
        ``status`` is the delivery's status after the attempt (or ``missing``);
        ``error`` is the send failure, if any.
    """
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .select_related("version__report__study", "recipient")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return SendOutcome("missing")
        if delivery.status != DeliveryStatus.QUEUED:
            return SendOutcome(delivery.status)
        delivery.attempts += 1
        try:
            build_message(delivery).send(fail_silently=False)
        except MAIL_TRANSIENT as exc:
            delivery.last_error = describe(exc)
            delivery.status = DeliveryStatus.FAILED if final else DeliveryStatus.QUEUED
            delivery.save(update_fields=["attempts", "last_error", "status", "updated_at"])
            action = "delivery.failed" if final else "delivery.retrying"
            record(None, action, delivery, attempts=delivery.attempts, error=delivery.last_error)
            log.warning(
                "delivery %s: attempt %s failed: %s", delivery.pk, delivery.attempts,
                delivery.last_error,
            )  # fmt: skip
            return SendOutcome(delivery.status, exc)
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = timezone.now()
        delivery.last_error = ""
        delivery.save(update_fields=["attempts", "last_error", "status", "sent_at", "updated_at"])
        record(None, "delivery.sent", delivery, attempts=delivery.attempts)
        return SendOutcome(delivery.status)


def stale_queued(older_than: timedelta) -> list[int]:
    """Deliveries still queued and untouched for ``older_than`` (task lost or never sent)."""
    cutoff = timezone.now() - older_than
    return list(
        Delivery.objects.filter(status=DeliveryStatus.QUEUED, updated_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )
