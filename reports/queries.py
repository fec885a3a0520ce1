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
from reports.states import OPEN
from uploads.models import Instance, RequestStatus, ReviewRequest

# "urgent" sorts after "routine", so descending urgency puts urgent requests first.
WORKLIST_ORDER = ["-urgency", "waiting_since", "pk"]


def with_flags(requests: QuerySet[ReviewRequest]) -> QuerySet[ReviewRequest]:
    """Annotate ``waiting_since``, ``is_overdue`` and ``needs_pixel_review``; prefetch the
    studies (their modalities show in lists)."""
    cutoff = timezone.now() - conf.turnaround()
    return (
        requests.annotate(
            waiting_since=Coalesce("requested_at", "created_at"),
            needs_pixel_review=Exists(
                Instance.objects.filter(
                    series__study__review_requests=OuterRef("pk"), needs_pixel_review=True
                )
            ),
        )
        .annotate(
            is_overdue=Case(
                When(Q(status__in=OPEN) & Q(waiting_since__lt=cutoff), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .prefetch_related("studies")
    )


def overdue(requests: QuerySet[ReviewRequest] | None = None) -> QuerySet[ReviewRequest]:
    """Open requests (ready or in review) waiting longer than the turnaround."""
    base = ReviewRequest.objects.all() if requests is None else requests
    cutoff = timezone.now() - conf.turnaround()
    late = Q(requested_at__lt=cutoff) | Q(requested_at__isnull=True, created_at__lt=cutoff)
    return with_flags(base.filter(late, status__in=OPEN)).order_by(*WORKLIST_ORDER)


def radiologist_load() -> QuerySet[Any]:
    """Active radiologists with ``load`` (open requests assigned) and ``overdue`` counts."""
    cutoff = timezone.now() - conf.turnaround()
    assigned_open = Q(assigned_requests__status__in=OPEN)
    waiting = Coalesce("assigned_requests__requested_at", "assigned_requests__created_at")
    return (
        User.objects.filter(role=Role.RADIOLOGIST, is_active=True)
        .alias(assigned_waiting=waiting)
        .annotate(
            load=Count("assigned_requests", filter=assigned_open, distinct=True),
            in_review=Count(
                "assigned_requests",
                filter=Q(assigned_requests__status=RequestStatus.IN_REVIEW),
                distinct=True,
            ),
            overdue=Count(
                "assigned_requests",
                filter=assigned_open & Q(assigned_waiting__lt=cutoff),
                distinct=True,
            ),
        )
        .order_by("-load", "email")
    )
