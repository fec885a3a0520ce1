"""Template tags that put reporting into other apps' pages.

``{% study_reporting study %}`` (study page): each request's timeline, actions, report links.
``{% notifications_link %}`` (navigation): the notifications link with the unread count.
"""

from __future__ import annotations

from typing import Any

from django import template

from portal.accounts.models import Role
from reports import services
from reports.models import Notification, Report
from reports.timeline import timeline
from uploads.models import ReviewRequest, Study
from uploads.permissions import visible_requests

register = template.Library()


def case_actions(case: ReviewRequest, user: Any) -> dict[str, Any]:
    """What ``user`` may do with ``case`` and read of it (study and request pages)."""
    report = Report.objects.filter(review_request=case).first()
    latest = report.latest_signed() if report is not None else None
    is_owner = case.owner_id == user.pk
    return {
        "case": case,
        "timeline": timeline(case),
        "latest": latest,
        "draft": report.draft() if report is not None else None,
        "is_owner": is_owner,
        "is_author": case.assigned_to_id == user.pk and user.role == Role.RADIOLOGIST,
        "can_edit_request": is_owner and case.status in services.REQUEST_EDITABLE,
        "can_cancel": is_owner and case.status in services.REQUEST_EDITABLE,
        "can_claim": user.role == Role.RADIOLOGIST and case.in_pool,
        "can_read": latest is not None,
    }


@register.inclusion_tag("reports/includes/study_reporting.html", takes_context=True)
def study_reporting(context: dict[str, Any], study: Study) -> dict[str, Any]:
    """The review requests about ``study`` that the user may see, oldest first."""
    user = context["request"].user
    cases = visible_requests(user).filter(studies=study).order_by("created_at", "pk")
    return {"rows": [case_actions(case, user) for case in cases]}


@register.inclusion_tag("reports/includes/nav_notifications.html", takes_context=True)
def notifications_link(context: dict[str, Any]) -> dict[str, Any]:
    user = context["request"].user
    unread = 0
    if user.is_authenticated:
        unread = Notification.objects.filter(user=user.pk, read=False).count()
    return {"unread": unread, "user": user}
