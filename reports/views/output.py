"""Reading a signed report: the HTML view and the PDF download.

Readers are whoever may see the study (``visible_studies``): the uploader, the
assigned radiologist and admins. Drafts are never shown here. Every read is audited.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from portal.audit.log import record
from reports import images, services
from reports.models import Notification, ReportVersion, VersionStatus
from reports.pdf import ensure_pdf
from reports.views.common import visible_study
from uploads.models import Study


def requested_version(request: HttpRequest, study: Study) -> ReportVersion:
    """The signed version named by ``?version=N``, else the newest; 404 if none."""
    number = request.GET.get("version")
    try:
        wanted = int(number) if number else None
    except ValueError as exc:
        raise Http404("No such version") from exc
    version = services.signed_version(study, wanted)
    if version is None:
        raise Http404("No signed report")
    return version


@login_required
def report_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The signed report as HTML, with its history and the PDF link."""
    study = visible_study(request, pk)
    version = requested_version(request, study)
    record(request, "report.viewed", version, study=study.pk, version=version.number)
    Notification.objects.filter(user=request.user.pk, link=request.path, read=False).update(
        read=True
    )
    history = ReportVersion.objects.filter(
        report__study=study, status=VersionStatus.SIGNED
    ).order_by("number")
    return render(
        request,
        "reports/report_view.html",
        {
            "study": study,
            "version": version,
            "history": history,
            "latest": history.last(),
            "key_images": [
                {**entry, "caption": images.describe(entry)} for entry in version.key_images
            ],
            "can_amend": study.assigned_to_id == request.user.pk,
        },
    )


@login_required
def report_pdf(request: HttpRequest, pk: int) -> FileResponse:
    """Download the PDF of a signed version (generated now if the task has not yet)."""
    study = visible_study(request, pk)
    version = requested_version(request, study)
    name = ensure_pdf(version.pk)
    record(request, "report.pdf_downloaded", version, study=study.pk, version=version.number)
    return FileResponse(
        default_storage.open(name, "rb"),
        as_attachment=True,
        filename=f"report-study-{study.pk}-v{version.number}.pdf",
        content_type="application/pdf",
    )
