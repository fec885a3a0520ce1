"""In-portal notifications of the signed-in user."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal.audit.log import record
from portal.redirects import is_local
from reports.models import Notification


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    items = Notification.objects.filter(user=request.user.pk)[:100]
    return render(request, "reports/notifications.html", {"notifications": items})


@require_POST
@login_required
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read and follow its link (``open``) or go back to the list."""
    item = get_object_or_404(Notification, pk=pk, user=request.user.pk)
    if not item.read:
        item.read = True
        item.save(update_fields=["read"])
        record(request, "notification.read", item)
    target = item.link if "open" in request.POST else ""
    return redirect(target if target and is_local(request, target) else "notifications")
