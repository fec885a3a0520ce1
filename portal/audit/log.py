"""``record(request, action, obj)``: the one way views write to the audit log.

Detail values must never contain patient data: ids, keywords and counts only.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from portal.audit.models import AuditEvent


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR is set by the WSGI server; behind a proxy, gunicorn's
    # --forwarded-allow-ips makes it the client's address.
    return request.META.get("REMOTE_ADDR") or None


def record(
    request: HttpRequest | None,
    action: str,
    obj: models.Model | None = None,
    *,
    user: Any = None,
    **detail: Any,
) -> AuditEvent:
    """Append one event. ``user`` defaults to the request's authenticated user."""
    if user is None and request is not None and request.user.is_authenticated:
        user = request.user
    return AuditEvent.objects.create(
        user=user,
        actor=getattr(user, "email", "") or "",
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        ip=client_ip(request) if request is not None else None,
        detail=detail,
    )
