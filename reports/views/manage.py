"""The admin overview (unassigned, assigned, overdue, load per radiologist) and assigning
a review request to a radiologist."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from portal.accounts.decorators import role_required
from portal.accounts.models import Role, User
from portal.audit import labels
from portal.audit.models import AuditEvent
from portal.redirects import next_url
from reports import services, states
from reports.conf import turnaround
from reports.errors import WorkflowError
from reports.models import Delivery, DeliveryStatus
from reports.queries import WORKLIST_ORDER, overdue, radiologist_load, with_flags
from uploads.models import ReviewRequest, Study, Upload


@role_required(Role.ADMIN)
def manage(request: HttpRequest) -> HttpResponse:
    """Admin overview: unassigned, in review, overdue, per-radiologist load, failed emails,
    uploads needing attention."""
    radiologists = radiologist_load()
    unassigned = with_flags(
        ReviewRequest.objects.filter(status=states.READY, assigned_to__isnull=True)
    ).order_by(*WORKLIST_ORDER)
    assigned = with_flags(
        ReviewRequest.objects.filter(
            status__in=states.OPEN, assigned_to__isnull=False
        ).select_related("assigned_to")
    ).order_by(*WORKLIST_ORDER)
    late = overdue().select_related("assigned_to")
    return render(
        request,
        "reports/manage.html",
        {
            "counts": {
                "users": User.objects.count(),
                "radiologists": radiologists.count(),
                "studies": Study.objects.count(),
                "unassigned": unassigned.count(),
                "overdue": late.count(),
                "failed_emails": Delivery.objects.filter(status=DeliveryStatus.FAILED).count(),
                "uploads_attention": Upload.objects.filter(
                    state=Upload.State.NEEDS_ATTENTION
                ).count(),
            },
            "unassigned": unassigned[:50],
            "assigned": assigned[:100],
            "overdue": late[:50],
            "radiologists": radiologists,
            "turnaround_hours": int(turnaround().total_seconds() // 3600),
            "recent": [
                {
                    "at": e.at,
                    "actor": e.actor,
                    "code": e.action,
                    "action": labels.action_label(e.action),
                    "object": labels.object_label(e.object_type, e.object_id),
                }
                for e in AuditEvent.objects.all()[:10]
            ],
        },
    )


@require_POST
@role_required(Role.ADMIN)
def assign_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Assign a review request to an active radiologist, or unassign it (empty
    ``radiologist``)."""
    case = get_object_or_404(ReviewRequest, pk=pk)
    radiologist_id = request.POST.get("radiologist") or None
    radiologist = None
    if radiologist_id:
        radiologist = get_object_or_404(
            User, pk=radiologist_id, role=Role.RADIOLOGIST, is_active=True
        )
    try:
        services.assign(case, radiologist, request.user, request=request)
    except WorkflowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, gettext("Request %(number)s assignment saved.") % {"number": case.pk}
        )
    return redirect(next_url(request, "manage"))
