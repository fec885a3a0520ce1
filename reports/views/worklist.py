"""Claiming a study from the pool (the worklist page itself is ``portal.views.worklist``)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from reports import services
from reports.errors import WorkflowError
from reports.views.common import visible_study


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
