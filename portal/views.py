"""The portal's own pages: home (each role's start page), the audit log and the health check.

The worklist and the admin overview are reporting pages: ``reports.views``."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.audit import labels
from portal.audit.models import AuditEvent


@login_required
def home(request: HttpRequest) -> HttpResponse:
    role = request.user.role  # type: ignore[union-attr]
    if role == Role.ADMIN:
        return redirect("manage")
    if role == Role.RADIOLOGIST:
        return redirect("worklist")
    return redirect("studies")


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
    rows = [
        {
            "at": e.at,
            "actor": e.actor,
            "code": e.action,
            "action": labels.action_label(e.action),
            "object": labels.object_label(e.object_type, e.object_id),
            "ip": e.ip,
            "detail": labels.detail_text(e.detail),
        }
        for e in page
    ]
    filters = {"action": action, "actor": actor, "object": object_id}
    return render(
        request,
        "audit_log.html",
        {"page": page, "rows": rows, "filters": filters, "groups": labels.groups()},
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
