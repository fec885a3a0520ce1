"""The report editor of the assigned radiologist: drafts, autosave, key images, signing.

Every view here refuses to change a signed version: they only ever write to the open
draft, and :mod:`reports.services` raises ``Conflict`` when there is none.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.audit.log import record
from reports import images, report_templates, services
from reports.errors import Invalid, WorkflowError
from reports.models import ReportVersion, VersionStatus
from reports.views.common import body_json, json_error, visible_case
from uploads.models import Instance, ReviewRequest, Study

MAX_INSTANCE_CHOICES = 2000


def author_case(request: HttpRequest, pk: int) -> ReviewRequest:
    """The review request, if the user is its assigned radiologist (404 if not visible,
    else 403)."""
    case = visible_case(request, pk)
    if case.assigned_to_id != request.user.pk:
        raise PermissionDenied("Claim the request first: only its radiologist can report it.")
    return case


def case_studies(case: ReviewRequest) -> list[Study]:
    """The request's studies, oldest study date first."""
    return list(case.studies.order_by("study_date", "pk"))


def form_data(post: QueryDict) -> dict[str, Any]:
    """The editor form's fields as service data (``key_images`` is a JSON string)."""
    names = [*report_templates.SECTION_NAMES, "template", "addendum_reason"]
    data: dict[str, Any] = {name: post[name] for name in names if name in post}
    if "key_images" in post:
        try:
            data["key_images"] = json.loads(str(post.get("key_images") or "[]"))
        except json.JSONDecodeError as exc:
            raise Invalid("The key image list is not valid.") from exc
    return data


def instance_choices(case: ReviewRequest) -> list[dict[str, Any]]:
    """The images a key image can be taken from: those of the request's studies (the
    study is named when the request has more than one)."""
    several = case.studies.count() > 1
    rows = (
        Instance.objects.filter(series__study__review_requests=case, has_pixels=True)
        .order_by("series__study_id", "series__number", "series_id", "instance_number", "pk")
        .values(
            "pk",
            "series__study_id",
            "series__number",
            "series__modality",
            "instance_number",
            "frames",
        )
    )[:MAX_INSTANCE_CHOICES]
    return [
        {
            "id": row["pk"],
            "frames": row["frames"],
            "label": (
                gettext("Study #%(number)s · ") % {"number": row["series__study_id"]}
                if several
                else ""
            )
            + gettext("Series %(series)s %(modality)s · image %(image)s")
            % {
                "series": row["series__number"] if row["series__number"] is not None else "?",
                "modality": row["series__modality"],
                "image": row["instance_number"] if row["instance_number"] is not None else "?",
            },
        }
        for row in rows
    ]


def editor_context(
    case: ReviewRequest, draft: ReportVersion | None, posted: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything the editor template shows; ``posted`` overlays unsaved form input."""
    posted = posted or {}
    source: Any = draft
    sections = [
        {
            "name": name,
            "label": gettext(label),
            "text": posted.get(name, getattr(source, name, "") if source else ""),
            "testid": "report-" + name.replace("_", "-"),
        }
        for name, label in report_templates.SECTIONS
    ]
    key_images = posted.get("key_images", draft.key_images if draft else [])
    signed = list(
        ReportVersion.objects.filter(
            report__review_request=case, status=VersionStatus.SIGNED
        ).order_by("number")
    )
    studies = case_studies(case)
    return {
        "case": case,
        "studies": studies,
        "draft": draft,
        "sections": sections,
        "template": posted.get("template", draft.template if draft else ""),
        "addendum_reason": posted.get("addendum_reason", draft.addendum_reason if draft else ""),
        "template_choices": report_templates.choices(),
        "template_defaults": report_templates.as_json(),
        "key_images_json": json.dumps(key_images),
        "key_images": [
            {**entry, "caption": images.describe(entry)}
            for entry in key_images
            if isinstance(entry, dict)
        ],
        "instances": instance_choices(case),
        "signed_versions": signed,
        "latest": signed[-1] if signed else None,
        "flags": Instance.objects.filter(series__study__in=studies, needs_pixel_review=True)
        .values("series")
        .distinct()
        .count(),
    }


def editor_error(
    request: HttpRequest, case: ReviewRequest, data: dict[str, Any], exc: WorkflowError
) -> HttpResponse:
    """The editor again with the error shown (and the posted text, if it was invalid)."""
    messages.error(request, str(exc))
    draft = services.editable_draft(case)
    posted = data if isinstance(exc, Invalid) and draft is not None else None
    return render(
        request, "reports/editor.html", editor_context(case, draft, posted), status=exc.status
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.RADIOLOGIST)
def editor(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the editor (or the signed report with the addendum form). POST: save the draft."""
    case = author_case(request, pk)
    if request.method == "POST":
        data: dict[str, Any] = {}
        try:
            data = form_data(request.POST)
            services.save_draft(case, request.user, data, request=request)
        except WorkflowError as exc:
            return editor_error(request, case, data, exc)
        messages.success(request, gettext("Draft saved."))
        return redirect("report-editor", pk=case.pk)
    draft = services.editable_draft(case)
    if draft is not None and draft.pk is not None:
        record(request, "report.draft_opened", draft, request_id=case.pk)
    return render(request, "reports/editor.html", editor_context(case, draft))


@require_POST
@role_required(Role.RADIOLOGIST)
def autosave(request: HttpRequest, pk: int) -> JsonResponse:
    """Save the draft from the editor script (JSON body); 409 once signed."""
    case = author_case(request, pk)
    data = body_json(request)
    if data is None:
        return JsonResponse({"ok": False, "error": "Send a JSON object."}, status=400)
    try:
        draft = services.save_draft(case, request.user, data, request=request, autosave=True)
    except WorkflowError as exc:
        return json_error(exc)
    return JsonResponse(
        {
            "ok": True,
            "version": draft.number,
            "saved_at": timezone.localtime(draft.updated_at).isoformat(),
            "key_images": draft.key_images,
        }
    )


@require_POST
@role_required(Role.RADIOLOGIST)
def add_key_image(request: HttpRequest, pk: int) -> JsonResponse:
    """Append ``{instance_id, frame, center, width}`` to the draft (for the viewer)."""
    case = author_case(request, pk)
    data = body_json(request)
    if not data:
        return JsonResponse({"ok": False, "error": "Send a key image object."}, status=400)
    try:
        draft = services.add_key_image(case, request.user, data, request=request)
    except WorkflowError as exc:
        return json_error(exc)
    return JsonResponse({"ok": True, "key_images": draft.key_images})


@require_POST
@role_required(Role.RADIOLOGIST)
def sign(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the posted text into the draft and sign it; then show the signed report."""
    case = author_case(request, pk)
    data: dict[str, Any] = {}
    try:
        data = form_data(request.POST)
        version = services.sign(case, request.user, data, request=request)
    except WorkflowError as exc:
        return editor_error(request, case, data, exc)
    messages.success(
        request,
        gettext("Report signed (version %(number)s). The uploader is being notified.")
        % {"number": version.number},
    )
    return redirect("report-view", pk=case.pk)


@require_POST
@role_required(Role.RADIOLOGIST)
def addendum(request: HttpRequest, pk: int) -> HttpResponse:
    """Open an addendum (reason required) starting from the signed text."""
    case = author_case(request, pk)
    try:
        services.start_addendum(case, request.user, request.POST.get("reason", ""), request=request)
    except WorkflowError as exc:
        messages.error(request, str(exc))
        return render(
            request,
            "reports/editor.html",
            editor_context(case, services.editable_draft(case)),
            status=exc.status,
        )
    messages.success(request, gettext("Addendum opened: edit the report and sign it."))
    return redirect("report-editor", pk=case.pk)


@role_required(Role.RADIOLOGIST)
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The draft as the uploader will see it once signed."""
    case = author_case(request, pk)
    draft = services.editable_draft(case)
    if draft is None:
        return redirect("report-view", pk=case.pk)
    if draft.pk is not None:
        record(request, "report.previewed", draft, request_id=case.pk)
    return render(
        request,
        "reports/preview.html",
        {
            "case": case,
            "studies": case_studies(case),
            "version": draft,
            "key_images": [
                {**entry, "caption": images.describe(entry, draft.annotations)}
                for entry in draft.key_images
            ],
        },
    )
