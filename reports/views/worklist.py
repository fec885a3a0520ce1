"""The radiologists' worklist (their studies and the pool, with every request asked about
each) and claiming from the pool."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from reports import services, states
from reports.conf import turnaround
from reports.errors import WorkflowError
from reports.queries import WORKLIST_ORDER, unanswered_follow_ups, with_flags
from reports.views.common import visible_study
from uploads.models import ReviewRequest
from uploads.permissions import visible_studies


def requests_asked() -> Prefetch[Any]:
    """Each study's review requests, oldest first: every question asked about it."""
    return Prefetch("review_requests", queryset=ReviewRequest.objects.order_by("created_at", "pk"))


@role_required(Role.RADIOLOGIST, Role.ADMIN)
def worklist(request: HttpRequest) -> HttpResponse:
    """Radiologists: their studies and the pool, urgent first then oldest, with flags; and
    new questions about the studies they reported (answered with an addendum)."""
    studies = with_flags(
        visible_studies(request.user)
        .filter(status__in=states.OPEN)
        .select_related("assigned_to")
        .prefetch_related(requests_asked())
    )
    mine = studies.filter(assigned_to=request.user.pk)
    pool = studies.filter(assigned_to__isnull=True, status=states.READY)
    return render(
        request,
        "reports/worklist.html",
        {
            "mine": mine.order_by(*WORKLIST_ORDER),
            "pool": pool.order_by(*WORKLIST_ORDER),
            "follow_ups": unanswered_follow_ups(request.user),
            "can_claim": request.user.role == Role.RADIOLOGIST,  # type: ignore[union-attr]
            "turnaround_hours": int(turnaround().total_seconds() // 3600),
        },
    )


@require_POST
@role_required(Role.RADIOLOGIST)
def claim(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a pool study and open its report editor; if someone was faster, say so."""
    try:
        study = visible_study(request, pk)
    except Http404:
        # Claimed by someone else a moment ago (or never there): same answer for both.
        messages.error(request, "This study is no longer in the pool.")
        return redirect("worklist")
    if study.assigned_to_id == request.user.pk:
        return redirect("report-editor", pk=study.pk)
    try:
        services.claim(study, request.user, request=request)
    except WorkflowError as exc:
        messages.error(request, str(exc))
        return redirect("worklist")
    messages.success(request, f"Study #{study.pk} is yours.")
    return redirect("report-editor", pk=study.pk)
