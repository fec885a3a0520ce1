"""Admin page of report emails: what was sent, what failed, and resending."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.redirects import next_url
from reports import services
from reports.errors import WorkflowError
from reports.models import Delivery, DeliveryStatus


@role_required(Role.ADMIN)
def deliveries(request: HttpRequest) -> HttpResponse:
    """Deliveries, newest first, filtered by ``?status=``."""
    rows = Delivery.objects.select_related("version__report", "recipient")
    status = request.GET.get("status", "")
    if status in DeliveryStatus.values:
        rows = rows.filter(status=status)
    counts = dict(
        Delivery.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return render(
        request,
        "reports/deliveries.html",
        {
            "page": Paginator(rows, 100).get_page(request.GET.get("page")),
            "status": status,
            "statuses": DeliveryStatus.choices,
            "summary": [
                (value, label, counts.get(value, 0)) for value, label in DeliveryStatus.choices
            ],
        },
    )


@require_POST
@role_required(Role.ADMIN)
def resend(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a failed (or sent) email again."""
    row = get_object_or_404(Delivery, pk=pk)
    try:
        services.resend(row, request.user, request=request)
    except WorkflowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            gettext("Email for request #%(number)s queued again.")
            % {"number": row.version.report.review_request_id},
        )
    return redirect(next_url(request, "deliveries"))
