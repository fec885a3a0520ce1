"""Home pages per role, the admin overview, the audit log view and the health check."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from portal.accounts.decorators import role_required
from portal.accounts.models import Role, User
from portal.audit.log import record
from portal.audit.models import AuditEvent
from portal.redirects import next_url
from reports.conf import turnaround
from reports.models import Delivery, DeliveryStatus
from reports.queries import WORKLIST_ORDER, overdue, radiologist_load, with_flags
from uploads.models import Study, StudyStatus, Upload
from uploads.permissions import visible_studies


@login_required
def home(request: HttpRequest) -> HttpResponse:
    role = request.user.role  # type: ignore[union-attr]
    if role == Role.ADMIN:
        return redirect("manage")
    if role == Role.RADIOLOGIST:
        return redirect("worklist")
    return redirect("studies")


@role_required(Role.RADIOLOGIST, Role.ADMIN)
def worklist(request: HttpRequest) -> HttpResponse:
    """Radiologists: their studies and the pool, urgent first then oldest, with flags."""
    studies = with_flags(
        visible_studies(request.user)
        .filter(status__in=[StudyStatus.READY, StudyStatus.IN_REVIEW])
        .select_related("assigned_to")
    )
    mine = studies.filter(assigned_to=request.user.pk)
    pool = studies.filter(assigned_to__isnull=True, status=StudyStatus.READY)
    return render(
        request,
        "worklist.html",
        {
            "mine": mine.order_by(*WORKLIST_ORDER),
            "pool": pool.order_by(*WORKLIST_ORDER),
            "can_claim": request.user.role == Role.RADIOLOGIST,  # type: ignore[union-attr]
            "turnaround_hours": int(turnaround().total_seconds() // 3600),
        },
    )


@role_required(Role.ADMIN)
def manage(request: HttpRequest) -> HttpResponse:
    """Admin overview: unassigned, in review, overdue, per-radiologist load, failed emails,
    uploads needing attention."""
    radiologists = radiologist_load()
    unassigned = with_flags(
        Study.objects.filter(status=StudyStatus.READY, assigned_to__isnull=True)
    ).order_by(*WORKLIST_ORDER)
    assigned = with_flags(
        Study.objects.filter(
            status__in=[StudyStatus.READY, StudyStatus.IN_REVIEW], assigned_to__isnull=False
        ).select_related("assigned_to")
    ).order_by(*WORKLIST_ORDER)
    late = overdue().select_related("assigned_to")
    return render(
        request,
        "manage.html",
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
            "recent": AuditEvent.objects.all()[:10],
        },
    )


@require_POST
@role_required(Role.ADMIN)
def assign_study(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    radiologist_id = request.POST.get("radiologist") or None
    radiologist = None
    if radiologist_id:
        radiologist = get_object_or_404(
            User, pk=radiologist_id, role=Role.RADIOLOGIST, is_active=True
        )
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        fields = ["assigned_to", "assigned_at", "updated_at"]
        study.assigned_to = radiologist
        study.assigned_at = timezone.now() if radiologist else None
        if radiologist is None and study.status == StudyStatus.IN_REVIEW:
            # Unassigned during review: back to the pool (a draft stays with the report).
            study.status = StudyStatus.READY
            fields.append("status")
        study.save(update_fields=fields)
        record(request, "study.assigned", study, radiologist=radiologist_id)
    messages.success(request, f"Study {study.pk} assignment saved.")
    return redirect(next_url(request, "manage"))


@role_required(Role.ADMIN)
def audit_log(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.select_related("user")
    action = request.GET.get("action", "").strip()
    actor = request.GET.get("actor", "").strip()
    object_id = request.GET.get("object", "").strip()
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor__icontains=actor)
    if object_id:
        events = events.filter(object_id=object_id)
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "audit_log.html",
        {"page": page, "filters": {"action": action, "actor": actor, "object": object_id}},
    )


def healthz(request: HttpRequest) -> JsonResponse:
    """Database and cache reachability; used by compose/stack health checks."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # report, don't 500: this is the health endpoint
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        key = f"healthz:{uuid.uuid4().hex}"
        cache.set(key, "1", 5)
        checks["cache"] = "ok" if cache.get(key) == "1" else "error: no round-trip"
    except Exception as exc:
        checks["cache"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"ok": healthy, **checks}, status=200 if healthy else 503)
