"""Region statistics and pixel probes for the viewer, from the stored pixels.

The engine (``uploads/dicom/roi.py``) measures; this module checks who may ask, parses
the query at the edge, and keeps the last few decoded frames of this process so that a
probe moved across an image does not decode the file each time.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from portal.numbers import finite_float
from uploads import permissions
from uploads.dicom import orientation, roi
from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import read_dataset
from uploads.models import Instance
from uploads.viewer.rendering import file_tag, read_instance
from uploads.viewer.views import viewable_instance

#: Decoded frames kept per process (a 512² CT frame is 2 MB as float64).
FRAME_CACHE_SIZE = 8
_frames: OrderedDict[tuple[int, str, int], roi.ModalityFrame] = OrderedDict()
_lock = threading.Lock()


def frame_values(instance: Instance, frame: int) -> roi.ModalityFrame:
    """The frame in modality units, from this process' small cache or decoded now."""
    key = (instance.pk, file_tag(instance.file), frame)
    with _lock:
        hit = _frames.get(key)
        if hit is not None:
            _frames.move_to_end(key)
            return hit
    values = roi.modality_frame(read_instance(instance), frame)
    with _lock:
        _frames[key] = values
        while len(_frames) > FRAME_CACHE_SIZE:
            _frames.popitem(last=False)
    return values


def _frame_of(instance: Instance, query: Any) -> int:
    try:
        frame = int(query.get("frame", "0") or 0)
    except ValueError:
        raise ValueError("frame must be a whole number") from None
    if not 0 <= frame < max(instance.frames, 1):
        raise ValueError("this image has no such frame")
    return frame


def _coordinate(query: Any, name: str) -> float:
    if name not in query:
        raise ValueError(f"{name} is missing")
    return finite_float(query[name], name)


def _error(text: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": text}, status=status)


@require_GET
@permissions.share_or_login_required
def roi_json(request: HttpRequest, pk: int) -> JsonResponse:
    """Mean, SD, min, max and area of a rectangle or ellipse (``shape``, corners ``x0``,
    ``y0``, ``x1``, ``y1`` in image pixels) on ``frame``."""
    instance = viewable_instance(request, pk)
    shape = request.GET.get("shape", "")
    if shape not in roi.SHAPES:
        return _error("shape must be rectangle or ellipse")
    try:
        frame = _frame_of(instance, request.GET)
        corners = [_coordinate(request.GET, n) for n in ("x0", "y0", "x1", "y1")]
    except ValueError as exc:
        return _error(str(exc))
    try:
        values = frame_values(instance, frame)
    except DicomInputError as exc:
        return _error(f"cannot measure this image: {exc}", 422)
    try:
        stats = roi.roi_stats(values, shape, *corners)
    except ValueError as exc:
        return _error(str(exc))
    return JsonResponse({"instance": instance.pk, "frame": frame, **stats.as_dict()})


@require_GET
@permissions.share_or_login_required
def probe_json(request: HttpRequest, pk: int) -> JsonResponse:
    """The modality value (HU for CT) of the pixel under ``x``, ``y`` on ``frame``."""
    instance = viewable_instance(request, pk)
    try:
        frame = _frame_of(instance, request.GET)
        x, y = _coordinate(request.GET, "x"), _coordinate(request.GET, "y")
    except ValueError as exc:
        return _error(str(exc))
    try:
        values = frame_values(instance, frame)
        value = roi.probe(values, x, y)
    except DicomInputError as exc:
        return _error(f"cannot measure this image: {exc}", 422)
    except ValueError as exc:
        return _error(str(exc))
    return JsonResponse(
        {
            "instance": instance.pk,
            "frame": frame,
            "x": int(x),
            "y": int(y),
            "value": value,
            "unit": values.unit,
        }
    )


@require_GET
@permissions.share_or_login_required
def geometry_json(request: HttpRequest, pk: int) -> JsonResponse:
    """What the overlays need of one frame: the orientation letters at the image's edges
    (from Image Orientation (Patient)) and the pixel spacing for the scale bar."""
    instance = viewable_instance(request, pk)
    try:
        frame = _frame_of(instance, request.GET)
        ds = read_dataset(read_instance(instance), pixels=False)
    except ValueError as exc:
        return _error(str(exc))
    except DicomInputError as exc:
        return _error(f"cannot read this image: {exc}", 422)
    cosines = orientation.image_orientation(ds, frame)
    return JsonResponse(
        {
            "instance": instance.pk,
            "frame": frame,
            "orientation": cosines,
            "labels": orientation.edge_labels(cosines) if cosines else None,
            "spacing": orientation.pixel_spacing(ds, frame) or instance.pixel_spacing,
        }
    )


#: Mouse conventions of the viewer (frontend/src/viewer/mouse.js).
MOUSE_CONVENTIONS = ("ohif", "classic")


@require_POST
@login_required
def mouse_preference(request: HttpRequest) -> JsonResponse:
    """Keep the signed-in user's mouse convention: ``{"mouse": "ohif" | "classic"}``."""
    try:
        data = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    value = data.get("mouse") if isinstance(data, dict) else None
    if value not in MOUSE_CONVENTIONS:
        return _error("mouse must be one of: " + ", ".join(MOUSE_CONVENTIONS))
    get_user_model().objects.filter(pk=request.user.pk or 0).update(viewer_mouse=value)
    return JsonResponse({"ok": True, "mouse": value})
