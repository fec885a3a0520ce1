"""The life of a review request for the study and request pages:
asked → waiting → in review → reported → amended.

Times come from the request's own timestamps, the audit log and the signed versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from portal.audit.models import AuditEvent
from reports.models import ReportVersion, VersionStatus
from uploads.models import RequestStatus, ReviewRequest

ORDER: list[str] = [
    RequestStatus.PENDING,
    RequestStatus.READY,
    RequestStatus.IN_REVIEW,
    RequestStatus.REPORTED,
    RequestStatus.AMENDED,
]


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    at: datetime | None
    done: bool
    current: bool = False


def _reached(case: ReviewRequest, status: str) -> bool:
    return case.status in ORDER and ORDER.index(case.status) >= ORDER.index(status)


def timeline(case: ReviewRequest) -> list[Stage]:
    """Stages of ``case`` in order; an amended report has one stage per addendum."""
    events = {
        action: at
        for action, at in AuditEvent.objects.filter(
            object_type="uploads.reviewrequest", object_id=str(case.pk)
        )
        .order_by("-at")
        .values_list("action", "at")
    }  # oldest wins: later rows overwrite, and rows come newest first
    review_at = events.get("request.claimed") or events.get("request.review_started")
    signed = list(
        ReportVersion.objects.filter(report__review_request=case, status=VersionStatus.SIGNED)
        .order_by("number")
        .values_list("number", "signed_at")
    )
    ready = case.requested_at is not None or _reached(case, RequestStatus.READY)
    in_review = review_at is not None or _reached(case, RequestStatus.IN_REVIEW)
    stages = [
        Stage("uploaded", _("Asked"), case.created_at, True),
        Stage("ready", _("Waiting for a radiologist"), case.requested_at, ready),
        Stage("in_review", _("In review"), review_at, in_review),
        Stage("reported", _("Reported"), signed[0][1] if signed else None, bool(signed)),
    ]
    for number, at in signed[1:]:
        label = _("Amended (version %(number)s)") % {"number": number}
        stages.append(Stage("amended", label, at, True))
    if case.status == RequestStatus.CANCELLED:
        stages.append(Stage("cancelled", _("Cancelled"), events.get("request.cancelled"), True))
    current = next((i for i in range(len(stages) - 1, -1, -1) if stages[i].done), 0)
    return [
        Stage(s.key, s.label, s.at, s.done, current=(i == current)) for i, s in enumerate(stages)
    ]
