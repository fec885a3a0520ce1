"""Template tags that put reporting into other apps' pages.

``{% study_reporting study %}`` (study page): timeline, request actions, report links.
``{% notifications_link %}`` (navigation): the notifications link with the unread count.
"""

from __future__ import annotations

from typing import Any

from django import template

from portal.accounts.models import Role
from reports import services
from reports.models import Notification, Report
from reports.timeline import timeline
from uploads.models import Study, StudyStatus

register = template.Library()


@register.inclusion_tag("reports/includes/study_reporting.html", takes_context=True)
def study_reporting(context: dict[str, Any], study: Study) -> dict[str, Any]:
    user = context["request"].user
    report = Report.objects.filter(study=study).first()
    latest = report.latest_signed() if report is not None else None
    draft = report.draft() if report is not None else None
    is_owner = study.owner_id == user.pk
    is_author = study.assigned_to_id == user.pk and user.role == Role.RADIOLOGIST
    return {
        "study": study,
        "timeline": timeline(study),
        "latest": latest,
        "draft": draft,
        "is_owner": is_owner,
        "is_author": is_author,
        "can_edit_request": is_owner and study.status in services.REQUEST_EDITABLE,
        "can_cancel": is_owner and study.status == StudyStatus.READY,
        "can_claim": user.role == Role.RADIOLOGIST and study.in_pool,
        "can_read": latest is not None,
    }


@register.inclusion_tag("reports/includes/nav_notifications.html", takes_context=True)
def notifications_link(context: dict[str, Any]) -> dict[str, Any]:
    user = context["request"].user
    unread = 0
    if user.is_authenticated:
        unread = Notification.objects.filter(user=user.pk, read=False).count()
    return {"unread": unread, "user": user}
