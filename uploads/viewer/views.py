"""The slice viewer: page, study manifest, slice PNGs and the attribute panel."""

from __future__ import annotations

import io
from typing import Any

import pydicom
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from portal.audit.log import record
from portal.middleware import CSP
from uploads import permissions
from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import PRESETS, presets_for
from uploads.models import Instance, ReviewRequest, Study
from uploads.permissions import can_view_study, visible_studies
from uploads.viewer import rt_overlay, slice_tokens
from uploads.viewer.rendering import (
    SliceParams,
    cached_slice,
    file_tag,
    read_instance,
    render_slice,
    stored_slice,
)


def viewable_study(request: HttpRequest, pk: int) -> Study:
    """The study if the user may see it, or if the session holds a valid share link for it."""
    study = visible_studies(request.user).filter(pk=pk).first()
    if study is None and pk in permissions.shared_study_ids(request):
        study = Study.objects.filter(pk=pk).first()
    if study is None:
        raise Http404("No such study")
    return study


def viewable_instance(request: HttpRequest, pk: int) -> Instance:
    """The instance if its study is visible to the user or shared with this session.

    A link holder's views are audited (once per instance and grant).
    """
    instance = get_object_or_404(Instance.objects.select_related("series__study"), pk=pk)
    study_id = instance.series.study_id
    if visible_studies(request.user).filter(pk=study_id).exists():
        return instance
    link = permissions.link_for_study(request, study_id)
    if link is None:
        raise Http404("No such image")
    match = request.resolver_match
    what = {"api-instance-attributes": "attributes", "api-instance-rt": "rt"}.get(
        (match.url_name or "") if match else "", "slice"
    )
    permissions.note_view(request, link, instance, what)
    return instance


#: The viewer inside the reading page (``?embed=1``) may be framed by the portal itself.
EMBED_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


def authored_request(request: HttpRequest, study: Study) -> ReviewRequest | None:
    """The review request about ``study`` assigned to the signed-in user, whose report the
    viewer writes into: the one named by ``?request=`` (the reading page names it), else
    the newest."""
    if not request.user.is_authenticated:
        return None
    cases = ReviewRequest.objects.filter(studies=study, assigned_to=request.user.pk)
    wanted = request.GET.get("request", "")
    if wanted.isdigit():
        cases = cases.filter(pk=int(wanted))
    return cases.order_by("-created_at", "-pk").first()


@permissions.share_or_login_required
def viewer_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The viewer; its assigned radiologist gets a link to the report (or, embedded in
    the reading page, the tools that write into the report draft)."""
    study = viewable_study(request, pk)
    record(request, "study.viewer_opened", study)
    context = {"study": study, **permissions.viewer_context(request, study)}
    case = authored_request(request, study)
    context["viewer_mouse"] = getattr(request.user, "viewer_mouse", "") or "ohif"
    embed = request.GET.get("embed") == "1" and "share" not in context
    if case is not None:
        context["report_url"] = reverse("report-editor", args=[case.pk])
        context["reading_url"] = reverse("reading", args=[case.pk])
        context["annotations_url"] = reverse("report-annotations", args=[case.pk])
        context["key_image_url"] = reverse("report-key-image", args=[case.pk])
    if embed:
        context["viewer_base"] = "uploads/viewer_embed_base.html"
        context["embedded"] = True
    response = render(request, "uploads/viewer.html", context)
    if embed:
        response["Content-Security-Policy"] = EMBED_CSP
        response["X-Frame-Options"] = "SAMEORIGIN"
    return response


def manifest_for(study: Study, reader: int | None = None) -> dict[str, Any]:
    """Series and images of a study; with ``reader`` (a signed-in user's id) each image
    carries a slice token (``uploads/viewer/slice_tokens.py``)."""
    series = []
    for s in study.series.order_by("number", "id"):
        instances = list(s.instances.order_by("slice_position", "instance_number", "id"))
        series.append(
            {
                "id": s.pk,
                "number": s.number,
                "modality": s.modality,
                "description": s.description,
                "presets": presets_for(s.modality),
                "images": [
                    {
                        "id": i.pk,
                        "frames": i.frames,
                        "number": i.instance_number,
                        "position": i.slice_position,
                        "spacing": i.pixel_spacing,
                        "rows": i.rows,
                        "columns": i.columns,
                        "review": i.needs_pixel_review,
                        "token": (
                            slice_tokens.make(i.pk, reader, file_tag(i.file)) if reader else None
                        ),
                    }
                    for i in instances
                    if i.has_pixels
                ],
            }
        )
    return {
        "study": {"id": study.pk, "modalities": study.modalities, "description": study.description},
        "series": [s for s in series if s["images"]],
        "rt": [
            {"id": i.pk, "modality": i.series.modality, "series": i.series.description}
            for i in rt_overlay.rt_instances(study)
        ],
        "presets": {name: {"center": w.center, "width": w.width} for name, w in PRESETS.items()},
    }


@require_GET
@permissions.share_or_login_required
def manifest(request: HttpRequest, pk: int) -> JsonResponse:
    study = viewable_study(request, pk)
    # Tokens only for readers who see the study by their role; link holders are checked
    # on every request so that a revoked link stops at once.
    reader = request.user.pk if can_view_study(request.user, study) else None
    return JsonResponse(manifest_for(study, reader))


def png_response(request: HttpRequest, png: bytes, etag: str) -> HttpResponse:
    quoted = f'"{etag}"'
    if request.headers.get("If-None-Match") == quoted:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(png, content_type="image/png")
    response["ETag"] = quoted
    response["Cache-Control"] = "private, max-age=86400"
    return response


@require_GET
def slice_image(request: HttpRequest, pk: int) -> HttpResponse:
    """A slice PNG from the hot cache, derived storage or rendered (``rendering.py``). With
    a valid slice token and a cached PNG nothing else is looked up (no session, no user,
    no database); otherwise the full permission check applies."""
    try:
        params = SliceParams.from_query(request.GET)
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    tag = slice_tokens.check(request.GET.get("t", ""), pk)
    if tag is not None:
        hit = cached_slice((pk, tag), params)
        if hit is not None:
            return png_response(request, *hit)
        instance = get_object_or_404(
            Instance.objects.select_related("series__study").only(
                "file", "frames", "series__study__owner"
            ),
            pk=pk,
        )
    else:
        if not (request.user.is_authenticated or permissions.granted_links(request)):
            return redirect_to_login(request.get_full_path())
        instance = viewable_instance(request, pk)
        hit = cached_slice(instance, params)
        if hit is not None:
            return png_response(request, *hit)
    hit = stored_slice(instance, params)  # pre-rendered: default window, thumbnail
    if hit is not None:
        return png_response(request, *hit)
    try:
        png, etag = render_slice(instance, params)
    except (ValueError, DicomInputError) as exc:
        return HttpResponse(
            f"cannot render this image: {exc}", status=422, content_type="text/plain"
        )
    return png_response(request, png, etag)


MAX_VALUE = 160


def attribute_rows(ds: pydicom.Dataset, depth: int = 0) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for element in ds:
        if element.tag.group == 0x7FE0 or element.VR in {"OB", "OW", "OF", "OD", "UN", "OL"}:
            value = f"<{element.VR} data, {len(element.value or b'')} bytes>"
        elif element.VR == "SQ":
            value = f"<{len(element.value)} item(s)>"
        else:
            value = str(element.value)[:MAX_VALUE]
        rows.append({"tag": f"{element.tag.group:04X},{element.tag.element:04X}",
                     "keyword": element.keyword or "(private)", "vr": element.VR,
                     "value": value, "depth": depth})  # fmt: skip
        if element.VR == "SQ" and depth < 3:
            for item in element.value[:10]:
                rows.extend(attribute_rows(item, depth + 1))
    return rows


@require_GET
@permissions.share_or_login_required
def attributes(request: HttpRequest, pk: int) -> JsonResponse:
    """The de-identified attributes of one instance (the stored file holds nothing else)."""
    instance = viewable_instance(request, pk)
    ds = pydicom.dcmread(io.BytesIO(read_instance(instance)), stop_before_pixels=True)
    return JsonResponse({"instance": instance.pk, "attributes": attribute_rows(ds)})


@require_GET
@permissions.share_or_login_required
def rt_overlay_json(request: HttpRequest, pk: int) -> JsonResponse:
    """Structure contours and isodose lines of the image's study in the image's plane."""
    instance = viewable_instance(request, pk)
    try:
        frame = int(request.GET.get("frame", "0"))
    except ValueError:
        return JsonResponse({"error": "frame must be a number"}, status=400)
    try:
        return JsonResponse(rt_overlay.overlay(instance, frame))
    except DicomInputError as exc:
        return JsonResponse({"error": f"cannot read this image: {exc}"}, status=422)
