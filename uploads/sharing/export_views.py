"""Exports: request one (study page, or a link holder's viewer), follow it, download it.

Who may export: accounts that may view the study, and holders of a share link that
allows downloads. Only who asked for an export may download it, until it expires.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal.accounts.decorators import recent_auth_required
from portal.audit.log import record
from portal.redirects import next_url
from uploads.models import Export, ExportKind, ExportStatus
from uploads.permissions import share_or_login_required
from uploads.sharing import exports
from uploads.sharing import tasks as export_tasks
from uploads.sharing.views import message_page


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_POST
@share_or_login_required
@recent_auth_required  # an account's export (bulk download) asks for a recent sign-in
def export_create(request: HttpRequest, pk: int) -> HttpResponse:
    study, link = exports.export_access(request, pk)
    kind = request.POST.get("kind", "")
    if kind not in ExportKind.values:
        return HttpResponse("Choose what to export.", status=400, content_type="text/plain")
    try:
        params = exports.png_params(request.POST) if kind == ExportKind.PNG else {}
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    export, created = exports.request_export(request, study, kind, params, link)
    # Also when asked again for one still waiting: a lost task (broker down, worker
    # died) is sent again; the build's claim makes a duplicate harmless.
    export_tasks.schedule(export.pk)
    if wants_json(request):
        return JsonResponse(exports.as_json(export), status=202 if created else 200)
    default = reverse("viewer" if link is not None else "study", args=[study.pk])
    return redirect(next_url(request, default))


@never_cache
@require_GET
@share_or_login_required
def export_list(request: HttpRequest, pk: int) -> JsonResponse:
    study, link = exports.export_access(request, pk)
    items = exports.exports_for(request, study, link).order_by("-created_at", "-id")[:20]
    return JsonResponse({"exports": [exports.as_json(e) for e in items]})


@require_GET
@share_or_login_required
def export_download(request: HttpRequest, pk: int) -> HttpResponse | FileResponse:
    export = get_object_or_404(Export.objects.select_related("study", "share_link"), pk=pk)
    if not exports.may_download(request, export):
        raise Http404("No such export")
    if export.is_expired:
        text = "This download has expired. Ask for a new export."
        return message_page(request, "Download expired", text, 410)
    if export.status != ExportStatus.DONE or not export.file:
        return HttpResponse("This export is not ready.", status=409, content_type="text/plain")
    if export.share_link is not None:
        record(request, "share.downloaded", export.share_link, study=export.study_id,
               export=export.pk, kind=export.kind)  # fmt: skip
    else:
        record(request, "export.downloaded", export, study=export.study_id, kind=export.kind)
    response = FileResponse(
        default_storage.open(export.file, "rb"),
        as_attachment=True,
        filename=export.filename,
        content_type="application/zip",
    )
    response["Cache-Control"] = "private, no-store"
    return response
