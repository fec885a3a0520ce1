"""Pages of the uploads app: the upload page, study list and study page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from portal.accounts.decorators import role_required
from portal.audit.log import record
from reports.models import Notification
from uploads.models import TERMINAL, FileStatus, ReviewRequest, Study, Upload, UploadFile
from uploads.permissions import UPLOADERS, visible_requests, visible_studies


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = (
        visible_studies(request.user)
        .prefetch_related(
            Prefetch(
                "review_requests",
                queryset=visible_requests(request.user).order_by("created_at", "pk"),
            )
        )
        .annotate(n_series=Count("series", distinct=True), n_images=Count("series__instances"))
    )
    return render(request, "uploads/study_list.html", {"studies": studies})


@role_required(*UPLOADERS)
def upload_page(request: HttpRequest) -> HttpResponse:
    """The upload page; it offers the uploader's open requests to add studies to."""
    return render(request, "uploads/upload.html", {"open_requests": open_requests(request.user)})


def open_requests(user: Any) -> list[ReviewRequest]:
    """The user's requests that can still take studies, newest first (at most 20)."""
    return list(
        ReviewRequest.objects.filter(owner=user.pk).open().order_by("-created_at", "-pk")[:20]
    )


@login_required
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    if not visible_studies(request.user).filter(pk=pk).exists():
        raise Http404("No such study")
    record(request, "study.viewed", study)
    # Notifications that lead here (e.g. a reviewer's answer on a share link) are read now.
    Notification.objects.filter(user=request.user.pk, link=request.path, read=False).update(
        read=True
    )
    series = study.series.annotate(n_images=Count("instances")).order_by("number", "id")
    rejected = UploadFile.objects.filter(
        upload__studies=study, status=FileStatus.REJECTED
    ).order_by("id")[:200]
    files = UploadFile.objects.filter(upload__studies=study)
    pending = files.exclude(status__in=TERMINAL).count()
    total = files.exclude(status=FileStatus.EXPANDED).count() if pending else 0
    attention = (
        Upload.objects.filter(studies=study, state=Upload.State.NEEDS_ATTENTION)
        .values_list("attention", flat=True)
        .first()
    )
    review_flags = study.series.filter(instances__needs_pixel_review=True).distinct().count()
    return render(
        request,
        "uploads/study_detail.html",
        {
            "study": study,
            "series": series,
            "rejected": rejected if request.user == study.owner else [],
            "pending": pending,
            "files_total": total,
            "prepared": total - pending,
            "attention": attention,
            "review_flags": review_flags,
            "is_owner": request.user == study.owner,
        },
    )
