"""Layouts, priors and multiplanar reformat: the comparison page and the JSON/PNG it loads.

Every route takes the same checks as the slice route (``uploads/viewer/views.py``): the
study must be visible to the user by their role, or shared with this session by a valid
link (a link holder's views are audited, once per series and grant).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from portal.audit.log import record
from uploads import permissions
from uploads.dicom.errors import DicomInputError
from uploads.dicom.mpr import MAX_SLAB, PLANES, plane_layout, render_plane
from uploads.dicom.render import AUTO, PRESETS, Window
from uploads.models import Series, Study
from uploads.permissions import visible_studies
from uploads.viewer import volumes
from uploads.viewer.rendering import SliceParams
from uploads.viewer.views import png_response, viewable_study


def viewable_series(request: HttpRequest, pk: int) -> Series:
    """The series if its study is visible to the user or shared with this session (with
    the summary of its images that names its volume, in the same query)."""
    visible = Series.objects.filter(pk=pk, study__in=visible_studies(request.user))
    series = volumes.with_image_summary(visible).first()
    if series is not None:
        return series
    series = get_object_or_404(volumes.with_image_summary(Series.objects.filter(pk=pk)))
    link = permissions.link_for_study(request, series.study_id)
    first = series.instances.order_by("id").first()
    if link is None or first is None:
        raise Http404("No such series")
    permissions.note_view(request, link, first, "mpr")
    return series


def priors_of(request: HttpRequest, study: Study) -> list[Study]:
    """Other studies of the same pseudonymised patient (same owner and pseudonym) that the
    user may see, newest first. A link holder sees the shared study only: no priors."""
    if not study.patient_pseudonym:
        return []
    return list(
        visible_studies(request.user)
        .filter(owner_id=study.owner_id, patient_pseudonym=study.patient_pseudonym)
        .exclude(pk=study.pk)
        .order_by("-study_date", "-id")
    )


@permissions.share_or_login_required
def layout_page(request: HttpRequest, pk: int) -> HttpResponse:
    study = viewable_study(request, pk)
    record(request, "study.viewer_opened", study)
    context = {"study": study, **permissions.viewer_context(request, study)}
    return render(request, "uploads/layout.html", context)


@require_GET
@permissions.share_or_login_required
def priors(request: HttpRequest, pk: int) -> JsonResponse:
    study = viewable_study(request, pk)
    return JsonResponse(
        {
            "study": study.pk,
            "priors": [
                {
                    "id": s.pk,
                    "date": s.study_date.isoformat() if s.study_date else None,
                    "description": s.description,
                    "modalities": s.modalities,
                }
                for s in priors_of(request, study)
            ],
        }
    )


@require_GET
@permissions.share_or_login_required
def geometry(request: HttpRequest, pk: int) -> JsonResponse:
    """Image Position/Orientation of every image of a series (reference lines, sync)."""
    series = viewable_series(request, pk)
    try:
        return JsonResponse(volumes.series_geometry(series))
    except DicomInputError as exc:
        return JsonResponse({"error": f"cannot read this series: {exc}"}, status=422)


@require_GET
@permissions.share_or_login_required
def mpr_info(request: HttpRequest, pk: int) -> JsonResponse:
    """The series' volume: size, voxel spacing, voxel→patient map and its three planes."""
    series = viewable_series(request, pk)
    try:
        volume, _ = volumes.series_volume(series)
    except DicomInputError as exc:
        return JsonResponse({"error": f"This series cannot be reformatted: {exc}."}, status=422)
    return JsonResponse(
        {
            "series": series.pk,
            "shape": list(volume.shape),
            "spacing": [round(s, 4) for s in volume.spacing],
            "affine": [round(float(v), 5) for v in volume.affine.ravel()],
            "frame_of_reference": volume.frame_of_reference,
            "window": {"center": volume.window.center, "width": volume.window.width},
            "resampled": volume.description,
            "max_slab": MAX_SLAB,
            "planes": {p: plane_layout(volume, p).as_dict() for p in PLANES},
        }
    )


def _int(query: Any, name: str, default: int) -> int:
    text = query.get(name, "")
    if text in ("", None):
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None


@require_GET
@permissions.share_or_login_required
def mpr_plane(request: HttpRequest, pk: int, plane: str) -> HttpResponse:
    """One plane of the series' volume as a PNG: ``index`` (voxel along the plane's
    normal), ``slab`` (planes in a maximum intensity projection), and the slice route's
    ``wc``/``ww``, ``preset``, ``size`` and ``invert``."""
    if plane not in PLANES:
        return HttpResponse("the plane must be axial, coronal or sagittal", status=400,
                            content_type="text/plain")  # fmt: skip
    try:
        params = SliceParams.from_query(request.GET)
        index, slab = _int(request.GET, "index", 0), _int(request.GET, "slab", 1)
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    series = viewable_series(request, pk)
    try:
        volume, key = volumes.series_volume(series)
    except DicomInputError as exc:
        return HttpResponse(f"this series cannot be reformatted: {exc}", status=422,
                            content_type="text/plain")  # fmt: skip
    window: Window | None = params.request().window
    if window is None and params.preset and params.preset != AUTO:
        window = PRESETS[params.preset]
    etag = hashlib.sha256(f"mpr|{key}|{plane}|{index}|{slab}|{window}|{params}".encode())
    try:
        png = render_plane(volume, plane, index, window=window, invert=params.invert,
                           size=params.size, slab=slab)  # fmt: skip
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    return png_response(request, png, etag.hexdigest()[:32])
