"""Text in a flagged image, found by the server for the upload page's box editor (issue 20).

``POST /api/uploads/text-boxes/`` (multipart, CSRF, signed-in uploader) takes

* ``image``: a DOWNSCALED preview of one frame (PNG or JPEG, at most
  ``TEXT_PREVIEW_MAX_SIDE`` pixels on its long side and ``TEXT_PREVIEW_MAX_BYTES``
  bytes), rendered by the browser; never the DICOM file;

and runs :func:`uploads.dicom.pixels.detect_text` on it. It answers
``{"ocr": true, "width", "height", "boxes": [{x, y, w, h, text, line}]}`` in the preview's
pixels: each box the region the server's cleaning would mask for that word
(:meth:`TextBox.region`: padded so the letters' edges are covered too), ``text`` the word
Tesseract read there and ``line`` which line of the reading it is in. The header values
never come here: the browser matches these words against the file's own names, IDs and
dates (``frontend/src/words.js``, the port of :mod:`uploads.dicom.words`). The text came
from the browser's own preview, so answering it reveals nothing new; it is neither stored
nor logged. A request that still sends ``values`` (an old page) is refused in words. The
image is read in memory only. The audit log records only that a preview was read
(``pixels.preview_detected``) and how many boxes it gave.
Without Tesseract: ``{"ocr": false, "boxes": []}``.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import numpy as np
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST
from PIL import Image, UnidentifiedImageError

from portal import ratelimit
from portal.accounts.decorators import role_required
from portal.audit.log import record
from uploads.dicom.pixels import detect_text, ocr_available
from uploads.permissions import UPLOADERS

log = logging.getLogger(__name__)


class Refused(Exception):
    """Bad input: the message says why in plain words (answered with 400)."""


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _frame(upload: Any) -> np.ndarray:
    """The preview as an array: 2-D when grey (so detect_text reads it twice), else RGB."""
    limit = settings.TEXT_PREVIEW_MAX_SIDE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(upload.read()))
            if image.format not in {"PNG", "JPEG"}:
                raise Refused("The preview is not a PNG or JPEG image.")
            if max(image.size) > limit:
                raise Refused(f"The preview is too large: at most {limit} pixels on its long side.")
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombWarning):
        raise Refused("The preview is not an image that can be read.") from None
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return rgb[..., 0]
    return rgb


@role_required(*UPLOADERS)
@require_POST
def text_boxes(request: HttpRequest) -> JsonResponse:
    """The boxes of the text in one preview image (see the module's docstring)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.TEXT_PREVIEW_MAX_BYTES:
        limit = settings.TEXT_PREVIEW_MAX_BYTES // 1024
        return _error(f"The preview is too large: at most {limit} KB can be checked.")
    if not ratelimit.allow("text-preview", request.user.pk, "TEXT_PREVIEW_RATE"):
        return _error("Too many images checked in a short time: try again in a while.", 429)
    upload = request.FILES.get("image")
    if upload is None:
        return _error("No preview image was sent.")
    if upload.size and upload.size > settings.TEXT_PREVIEW_MAX_BYTES:  # no Content-Length
        return _error("The preview is too large to be checked.")
    if "values" in request.POST:
        return _error(
            "This page is out of date: it sends the file's names, numbers and dates, which "
            "the portal no longer reads. Reload the page and try again."
        )
    try:
        frame = _frame(upload)
    except Refused as exc:
        return _error(str(exc))
    height, width = frame.shape[:2]
    if not ocr_available():
        return JsonResponse({"ocr": False, "width": width, "height": height, "boxes": []})
    found = [
        {**b.region(height, width), "text": b.text, "line": b.line} for b in detect_text(frame, [])
    ]
    record(request, "pixels.preview_detected", boxes=len(found))
    return JsonResponse({"ocr": True, "width": width, "height": height, "boxes": found})
