"""The reading page (viewer and report editor side by side) and the report's annotations.

The viewer is the viewer page itself, embedded (``?embed=1``); it keeps its annotations
in the report draft through :func:`report_annotations` and adds key images through the
editor's ``add_key_image``. Only the request's assigned radiologist reads and reports
here; a request with several studies shows one at a time, chosen above the viewer.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.audit.log import record
from reports import services
from reports.errors import WorkflowError
from reports.models import ReportVersion, VersionStatus
from reports.views.common import body_json, json_error
from reports.views.editor import author_case, editor_context


@require_http_methods(["GET"])
@role_required(Role.RADIOLOGIST)
def reading(request: HttpRequest, pk: int) -> HttpResponse:
    """Viewer and report editor side by side (stacked on a narrow screen)."""
    case = author_case(request, pk)
    draft = services.editable_draft(case)
    if draft is not None and draft.pk is not None:
        record(request, "report.draft_opened", draft, request_id=case.pk)
    context = editor_context(case, draft)
    studies = context["studies"]
    wanted = request.GET.get("study", "")
    shown = next((s for s in studies if str(s.pk) == wanted), studies[0] if studies else None)
    context["reading"] = True
    context["study"] = shown
    if shown is not None:
        context["viewer_url"] = reverse("viewer", args=[shown.pk]) + f"?embed=1&request={case.pk}"
    return render(request, "reports/editor.html", context)


@require_http_methods(["GET", "POST"])
@role_required(Role.RADIOLOGIST)
def report_annotations(request: HttpRequest, pk: int) -> JsonResponse:
    """GET: the annotations of the draft (or of the latest signed version, read-only).
    POST ``{"annotations": [...]}``: replace the draft's (validated; 409 once signed)."""
    case = author_case(request, pk)
    if request.method == "GET":
        draft = services.editable_draft(case)
        version = draft or (
            ReportVersion.objects.filter(report__review_request=case, status=VersionStatus.SIGNED)
            .order_by("-number")
            .first()
        )
        return JsonResponse(
            {
                "annotations": version.annotations if version is not None else [],
                "editable": draft is not None,
            }
        )
    data = body_json(request)
    if data is None or "annotations" not in data:
        return JsonResponse({"ok": False, "error": "Send the list of annotations."}, status=400)
    try:
        draft = services.save_draft(
            case,
            request.user,
            {"annotations": data["annotations"]},
            request=request,
            autosave=True,
        )
    except WorkflowError as exc:
        return json_error(exc)
    return JsonResponse(
        {
            "ok": True,
            "annotations": draft.annotations,
            "saved_at": timezone.localtime(draft.updated_at).isoformat(),
        }
    )
