"""The uploader's side of a review request: edit question/history/urgency, cancel."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from reports import services
from reports.errors import WorkflowError
from reports.views.common import visible_case
from uploads.models import ReviewRequest


class RequestForm(forms.ModelForm):
    class Meta:
        model = ReviewRequest
        fields = ["clinical_question", "history", "urgency"]
        labels = {"clinical_question": "Question for the radiologist"}
        widgets = {
            "clinical_question": forms.Textarea(
                attrs={"rows": 3, "data-testid": "request-question"}
            ),
            "history": forms.Textarea(attrs={"rows": 4, "data-testid": "request-history"}),
            "urgency": forms.Select(attrs={"data-testid": "request-urgency"}),
        }


@login_required
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Show and change one of the uploader's review requests."""
    case = visible_case(request, pk)
    if case.owner_id != request.user.pk:
        raise PermissionDenied
    editable = case.status in services.REQUEST_EDITABLE
    form = RequestForm(request.POST or None, instance=ReviewRequest.objects.get(pk=case.pk))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.update_request(
                    case,
                    request.user,
                    clinical_question=form.cleaned_data["clinical_question"],
                    history=form.cleaned_data["history"],
                    urgency=form.cleaned_data["urgency"],
                    request=request,
                )
            except WorkflowError as exc:
                messages.error(request, str(exc))
                status = exc.status
            else:
                messages.success(request, "Your request is saved.")
                return redirect("review-request", pk=case.pk)
        else:
            status = 400
    return render(
        request,
        "reports/request_edit.html",
        {"case": case, "form": form, "editable": editable},
        status=status,
    )


@require_POST
@login_required
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw a request that no radiologist has started."""
    case = visible_case(request, pk)
    if case.owner_id != request.user.pk:
        raise PermissionDenied
    try:
        services.cancel_request(case, request.user, request=request)
    except WorkflowError as exc:
        messages.error(request, str(exc))
        return render(request, "reports/refused.html", {"case": case}, status=exc.status)
    messages.success(request, "Your request is cancelled.")
    return redirect("review-request", pk=case.pk)
