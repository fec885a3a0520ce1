"""The life of a study for the study page: uploaded → … → reported → amended.

Times come from the study's own timestamps, the audit log and the signed versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from portal.audit.models import AuditEvent
from reports.models import ReportVersion, VersionStatus
from uploads.models import Study, StudyStatus

ORDER: list[str] = [
    StudyStatus.UPLOADING,
    StudyStatus.PROCESSING,
    StudyStatus.READY,
    StudyStatus.IN_REVIEW,
    StudyStatus.REPORTED,
    StudyStatus.AMENDED,
]


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    at: datetime | None
    done: bool
    current: bool = False


def _reached(study: Study, status: str) -> bool:
    if study.status in (StudyStatus.CANCELLED, StudyStatus.NEEDS_ATTENTION):
        return False
    return study.status in ORDER and ORDER.index(study.status) >= ORDER.index(status)


def timeline(study: Study) -> list[Stage]:
    """Stages of ``study`` in order; an amended study has one stage per addendum."""
    events = {
        action: at
        for action, at in AuditEvent.objects.filter(
            object_type="uploads.study", object_id=str(study.pk)
        )
        .order_by("-at")
        .values_list("action", "at")
    }  # oldest wins: later rows overwrite, and rows come newest first
    review_at = events.get("study.claimed") or events.get("study.review_started")
    signed = list(
        ReportVersion.objects.filter(report__study=study, status=VersionStatus.SIGNED)
        .order_by("number")
        .values_list("number", "signed_at")
    )
    ready = study.requested_at is not None or _reached(study, StudyStatus.READY)
    in_review = review_at is not None or _reached(study, StudyStatus.IN_REVIEW)
    stages = [
        Stage("uploaded", _("Uploaded"), study.created_at, True),
        Stage("processing", _("Processed"), study.requested_at, ready),
        Stage("ready", _("Waiting for a radiologist"), study.requested_at, ready),
        Stage("in_review", _("In review"), review_at, in_review),
        Stage("reported", _("Reported"), signed[0][1] if signed else None, bool(signed)),
    ]
    for number, at in signed[1:]:
        label = _("Amended (version %(number)s)") % {"number": number}
        stages.append(Stage("amended", label, at, True))
    if study.status == StudyStatus.CANCELLED:
        stages.append(Stage("cancelled", _("Cancelled"), events.get("study.cancelled"), True))
    elif study.status == StudyStatus.NEEDS_ATTENTION:
        stages.insert(2, Stage("needs_attention", _("Needs attention"), None, True))
    current = next((i for i in range(len(stages) - 1, -1, -1) if stages[i].done), 0)
    return [
        Stage(s.key, s.label, s.at, s.done, current=(i == current)) for i, s in enumerate(stages)
    ]
