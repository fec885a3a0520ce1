"""The radiologists' worklist (the review requests assigned to them and the pool) and
claiming from the pool."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from reports import services, states
from reports.conf import turnaround
from reports.errors import WorkflowError
from reports.queries import WORKLIST_ORDER, with_flags
from reports.views.common import visible_case
from uploads.permissions import visible_requests


@role_required(Role.RADIOLOGIST, Role.ADMIN)
def worklist(request: HttpRequest) -> HttpResponse:
    """Radiologists: the review requests assigned to them and the pool, urgent first then
    oldest, with flags. Each row is a request, with every study it covers."""
    cases = with_flags(
        visible_requests(request.user).filter(status__in=states.OPEN).select_related("assigned_to")
    )
    mine = cases.filter(assigned_to=request.user.pk)
    pool = cases.filter(assigned_to__isnull=True, status=states.READY)
    return render(
        request,
        "reports/worklist.html",
        {
            "mine": mine.order_by(*WORKLIST_ORDER),
            "pool": pool.order_by(*WORKLIST_ORDER),
            "can_claim": request.user.role == Role.RADIOLOGIST,  # type: ignore[union-attr]
            "turnaround_hours": int(turnaround().total_seconds() // 3600),
        },
    )


@require_POST
@role_required(Role.RADIOLOGIST)
def claim(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a pool request and open its reading page; if someone was faster, say so."""
    try:
        case = visible_case(request, pk)
    except Http404:
        # Claimed by someone else a moment ago (or never there): same answer for both.
        messages.error(request, gettext("This request is no longer in the pool."))
        return redirect("worklist")
    if case.assigned_to_id == request.user.pk:
        return redirect("report-editor", pk=case.pk)
    try:
        services.claim(case, request.user, request=request)
    except WorkflowError as exc:
        messages.error(request, str(exc))
        return redirect("worklist")
    messages.success(request, gettext("Request #%(number)s is yours.") % {"number": case.pk})
    return redirect("report-editor", pk=case.pk)
