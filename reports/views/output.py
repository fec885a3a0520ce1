"""Reading a signed report: the HTML view and the PDF download.

Readers are whoever may see the review request (``visible_requests``): the uploader, the
assigned radiologist and admins. Drafts are never shown here. Every read is audited.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from portal.audit.log import record
from reports import images, services
from reports.models import Notification, ReportVersion, VersionStatus
from reports.pdf import ensure_pdf
from reports.views.common import visible_case
from uploads.models import Instance, ReviewRequest


def requested_version(request: HttpRequest, case: ReviewRequest) -> ReportVersion:
    """The signed version named by ``?version=N``, else the newest; 404 if none."""
    number = request.GET.get("version")
    try:
        wanted = int(number) if number else None
    except ValueError as exc:
        raise Http404("No such version") from exc
    version = services.signed_version(case, wanted)
    if version is None:
        raise Http404("No signed report")
    return version


@login_required
def report_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The signed report as HTML, with its history and the PDF link."""
    case = visible_case(request, pk)
    version = requested_version(request, case)
    record(request, "report.viewed", version, request_id=case.pk, version=version.number)
    Notification.objects.filter(user=request.user.pk, link=request.path, read=False).update(
        read=True
    )
    history = ReportVersion.objects.filter(
        report__review_request=case, status=VersionStatus.SIGNED
    ).order_by("number")
    return render(
        request,
        "reports/report_view.html",
        {
            "case": case,
            "studies": list(case.studies.order_by("study_date", "pk")),
            "version": version,
            "history": history,
            "latest": history.last(),
            "key_images": [
                {
                    **entry,
                    "caption": images.describe(entry, version.annotations),
                    "src": reverse("report-key-image-png", args=[case.pk, index])
                    + f"?version={version.number}",
                }
                for index, entry in enumerate(version.key_images, start=1)
            ],
            "can_amend": case.assigned_to_id == request.user.pk,
        },
    )


@login_required
def report_pdf(request: HttpRequest, pk: int) -> FileResponse:
    """Download the PDF of a signed version (generated now if the task has not yet)."""
    case = visible_case(request, pk)
    version = requested_version(request, case)
    name = ensure_pdf(version.pk)
    record(request, "report.pdf_downloaded", version, request_id=case.pk, version=version.number)
    return FileResponse(
        default_storage.open(name, "rb"),
        as_attachment=True,
        filename=f"report-request-{case.pk}-v{version.number}.pdf",
        content_type="application/pdf",
    )


@login_required
def report_key_image(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    """Key image ``index`` (from 1) of a signed version as a PNG, for the web report.

    The same readers as the report; the image must be one of the request's studies'."""
    case = visible_case(request, pk)
    version = requested_version(request, case)
    if not 1 <= index <= len(version.key_images):
        raise Http404("No such key image")
    entry = version.key_images[index - 1]
    if not Instance.objects.filter(
        pk=entry.get("instance_id"), series__study__review_requests=case
    ).exists():
        raise Http404("No such key image")
    png = images.key_image_png(
        entry, size=images.WEB_KEY_IMAGE_SIZE, annotations=version.annotations
    )
    if png is None:
        raise Http404("This image cannot be shown")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
