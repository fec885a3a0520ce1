"""Telling the sharer that a reviewer answered on their link: in the portal and by email.

Neither carries the answer: the notification and the email say only that an answer waits,
for which portal study, with a link to the study page (login required). No verdict,
comment, opinion, study description or link note goes into an email.

One message per unread answer: while the sharer's notification about the study is unread,
further answers (the reviewer changing theirs) add no notification and no email. The email
is sent by the Celery task ``send_answer_email`` (``uploads/sharing/tasks.py``) after the
answer commits; :func:`send_email` locks the link and sends only when the current answer
was not emailed yet (``verdict_notified_at``), so a task delivered twice sends once.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal.accounts.emails import send_templated
from portal.audit.log import record
from portal.i18n import language_of
from reports.models import Notification
from uploads.models import ShareLink

log = logging.getLogger(__name__)


def study_path(study_id: int) -> str:
    return reverse("study", args=[study_id])


def recipient(link: ShareLink) -> Any:
    """Who made the link; the study's owner if that account is gone."""
    return link.created_by if link.created_by_id is not None else link.study.owner


#: The start of the notification's text (how an unread one is found again).
TEXT_START = "A reviewer answered on the link you shared"


def answer_given(link: ShareLink) -> bool:
    """Notify the sharer of a new answer in the portal (inside the answer's transaction).

    Returns True if a notification was made — the caller then queues the email — and
    False if the sharer still has one unread about this study.
    """
    user = recipient(link)
    path = study_path(link.study_id)
    unread = Notification.objects.filter(
        user=user, link=path, read=False, text__startswith=TEXT_START
    )
    if unread.exists():
        return False
    Notification.objects.create(
        user=user, text=f"{TEXT_START} for study #{link.study_id}.", link=path
    )
    return True


def send_email(link_id: int) -> str:
    """Email the sharer that an answer waits, once per answer; returns what happened.

    Raises the mail server's error (``portal.errors.MAIL_TRANSIENT``) for the task to retry;
    nothing is marked sent then.
    """
    with transaction.atomic():
        link = (
            ShareLink.objects.select_for_update(of=("self",))
            .select_related("study__owner", "created_by")
            .filter(pk=link_id)
            .first()
        )
        if link is None or link.verdict_at is None:
            return "no answer"
        if link.verdict_notified_at is not None and link.verdict_notified_at >= link.verdict_at:
            return "already sent"
        user = recipient(link)
        if not user.is_active or not user.email:
            return "no address"
        send_templated(
            "share_answer",
            user.email,
            {"study_id": link.study_id, "link": settings.SITE_URL + study_path(link.study_id)},
            language_of(user),
        )
        ShareLink.objects.filter(pk=link.pk).update(verdict_notified_at=timezone.now())
        record(None, "share.answer_emailed", link, study=link.study_id)
    log.info("share link %s: answer emailed", link_id)
    return "sent"
