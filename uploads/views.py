from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from uploads.permissions import visible_studies


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = visible_studies(request.user).select_related("assigned_to")
    return render(request, "uploads/study_list.html", {"studies": studies})
