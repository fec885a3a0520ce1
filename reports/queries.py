"""Read-only queries for the worklist and the admin overview: flags, overdue, load."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from portal.accounts.models import Role, User
from reports import conf
from reports.models import ReportVersion, VersionStatus
from reports.states import OPEN, SIGNED
from uploads.models import Instance, ReviewRequest, Study, StudyStatus

# "urgent" sorts after "routine", so descending urgency puts urgent requests first.
WORKLIST_ORDER = ["-urgency", "waiting_since", "pk"]


def with_flags(studies: QuerySet[Study]) -> QuerySet[Study]:
    """Annotate ``waiting_since``, ``is_overdue`` and ``needs_pixel_review``."""
    cutoff = timezone.now() - conf.turnaround()
    return studies.annotate(
        waiting_since=Coalesce("requested_at", "created_at"),
        needs_pixel_review=Exists(
            Instance.objects.filter(series__study=OuterRef("pk"), needs_pixel_review=True)
        ),
    ).annotate(
        is_overdue=Case(
            When(Q(status__in=OPEN) & Q(waiting_since__lt=cutoff), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


def overdue(studies: QuerySet[Study] | None = None) -> QuerySet[Study]:
    """Open requests (ready or in review) waiting longer than the turnaround."""
    base = Study.objects.all() if studies is None else studies
    cutoff = timezone.now() - conf.turnaround()
    late = Q(requested_at__lt=cutoff) | Q(requested_at__isnull=True, created_at__lt=cutoff)
    return with_flags(base.filter(late, status__in=OPEN)).order_by(*WORKLIST_ORDER)


def radiologist_load() -> QuerySet[Any]:
    """Active radiologists with ``load`` (open studies assigned) and ``overdue`` counts."""
    cutoff = timezone.now() - conf.turnaround()
    assigned_open = Q(assigned_studies__status__in=OPEN)
    waiting = Coalesce("assigned_studies__requested_at", "assigned_studies__created_at")
    return (
        User.objects.filter(role=Role.RADIOLOGIST, is_active=True)
        .alias(assigned_waiting=waiting)
        .annotate(
            load=Count("assigned_studies", filter=assigned_open, distinct=True),
            in_review=Count(
                "assigned_studies",
                filter=Q(assigned_studies__status=StudyStatus.IN_REVIEW),
                distinct=True,
            ),
            overdue=Count(
                "assigned_studies",
                filter=assigned_open & Q(assigned_waiting__lt=cutoff),
                distinct=True,
            ),
        )
        .order_by("-load", "email")
    )


def unanswered_follow_ups(user: Any) -> QuerySet[ReviewRequest]:
    """Requests asked about a study after its report was signed, that no later version
    answers yet: a second opinion or a follow-up question about a reported study. The study
    stays reported (the workflow runs per study); its radiologist answers with an addendum.

    Radiologists: those about studies they reported. Admins: all. Oldest first."""
    answered = ReportVersion.objects.filter(
        report__study=OuterRef("pk"),
        status=VersionStatus.SIGNED,
        signed_at__gte=OuterRef(OuterRef("requested_at")),
    )
    waiting = Study.objects.filter(review_requests=OuterRef("pk"), status__in=SIGNED).exclude(
        Exists(answered)
    )
    if getattr(user, "role", None) != Role.ADMIN:
        waiting = waiting.filter(assigned_to=user.pk)
    return (
        ReviewRequest.objects.filter(Exists(waiting), requested_at__isnull=False)
        .prefetch_related("studies")
        .order_by("-urgency", "requested_at", "pk")
    )
