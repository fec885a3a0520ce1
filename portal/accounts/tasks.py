from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from portal.accounts.models import Role, User
from portal.audit.models import AuditEvent


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
