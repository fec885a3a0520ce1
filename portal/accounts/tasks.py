import logging
from collections.abc import Callable
from datetime import timedelta

from celery import Task, shared_task
from django.utils import timezone

from portal.accounts import emails
from portal.accounts.models import Role, User
from portal.audit.models import AuditEvent
from portal.errors import MAIL_TRANSIENT

log = logging.getLogger(__name__)

#: The account emails a worker sends, by name (the name is what the task message carries).
ACCOUNT_EMAILS: dict[str, Callable[[User], None]] = {
    "verification": emails.send_verification,
    "account_exists": emails.send_account_exists,
    "password_reset": emails.send_password_reset,
}


@shared_task(bind=True, acks_late=True, max_retries=5)
def send_account_email(self: Task, kind: str, user_id: int) -> str:
    """Send one account email (:data:`ACCOUNT_EMAILS`) to an active account; a mail server
    away is retried with backoff. Its link and token are made here, so no token travels
    through the broker."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or kind not in ACCOUNT_EMAILS:
        return "skipped"
    try:
        ACCOUNT_EMAILS[kind](user)
    except MAIL_TRANSIENT as exc:
        log.warning("account email %s: %s, retrying", kind, type(exc).__name__)
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 900)) from exc
    return "sent"


@shared_task
def purge_unverified_accounts(days: int = 7) -> int:
    """Delete self-registered patient accounts never verified within ``days``."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = User.objects.filter(
        role=Role.PATIENT, email_verified=False, date_joined__lt=cutoff, last_login=None
    ).delete()
    return deleted


@shared_task(bind=True, acks_late=True)
def ping(self, token: str) -> str:
    """Round-trip check used by the health view and the integration tests: it writes an
    audit row through the worker's own database connection and answers ``token``."""
    AuditEvent.objects.get_or_create(action="worker.ping", object_id=token[:64])
    return token
