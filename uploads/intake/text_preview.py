"""Text in a flagged image, found by the server for the upload page's box editor (issue 20).

``POST /api/uploads/text-boxes/`` (multipart, CSRF, signed-in uploader) takes

* ``image``: a DOWNSCALED preview of one frame (PNG or JPEG, at most
  ``TEXT_PREVIEW_MAX_SIDE`` pixels on its long side and ``TEXT_PREVIEW_MAX_BYTES``
  bytes), rendered by the browser; never the DICOM file;
* ``values`` (optional): a JSON object ``{keyword: [value, ...]}`` of the file's own
  identifying header values (keywords of ``constants.IDENTIFYING_WORD_TAGS``: names, IDs,
  dates), expanded here into words exactly as for the server's cleaning
  (:func:`uploads.dicom.words.identifying_words`);

runs :func:`uploads.dicom.pixels.detect_text` on it and answers
``{"ocr": true, "width", "height", "boxes": [{x, y, w, h, identifying}]}`` in the
preview's pixels, each box the region the server's cleaning would mask for that word
(:meth:`TextBox.region`: padded so the letters' edges are covered too). Other text is
answered only when it has three or more letters or digits (or two digits). The recognised
text is not sent back; the image and the values are read in memory only: nothing is
stored and nothing of them is logged. The audit log records only that a preview was read
(``pixels.preview_detected``) and how many boxes it gave.
Without Tesseract: ``{"ocr": false, "boxes": []}``.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from typing import Any

import numpy as np
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST
from PIL import Image, UnidentifiedImageError
from pydicom.dataset import Dataset

from portal import ratelimit
from portal.accounts.decorators import role_required
from portal.audit.log import record
from uploads.dicom.constants import IDENTIFYING_WORD_TAGS
from uploads.dicom.pixels import detect_text, ocr_available
from uploads.dicom.words import identifying_words
from uploads.permissions import UPLOADERS

log = logging.getLogger(__name__)

KEYWORDS = frozenset(k for tags in IDENTIFYING_WORD_TAGS.values() for k in tags)
#: At most this many header values, each at most this long (a name, an ID, a date).
MAX_VALUES = 100
MAX_VALUE_LENGTH = 64


class Refused(Exception):
    """Bad input: the message says why in plain words (answered with 400)."""


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _values(raw: str) -> Dataset:
    """The posted header values as a data set of those attributes only."""
    ds = Dataset()
    if not raw.strip():
        return ds
    try:
        data = json.loads(raw)
    except ValueError:
        raise Refused("The header values are not readable (they must be JSON).") from None
    if not isinstance(data, dict):
        raise Refused("The header values must be a list of values per attribute.")
    count = 0
    for keyword, values in data.items():
        if keyword not in KEYWORDS:
            raise Refused("One of the header values is of a kind this check does not use.")
        items = values if isinstance(values, list) else [values]
        if not all(isinstance(v, str) for v in items):
            raise Refused("Each header value must be text.")
        count += len(items)
        if count > MAX_VALUES:
            raise Refused(f"Too many header values: at most {MAX_VALUES} are read.")
        if any(len(v) > MAX_VALUE_LENGTH for v in items):
            raise Refused(f"A header value is too long: at most {MAX_VALUE_LENGTH} characters.")
        clean = [v.replace("\x00", "").strip() for v in items if v.strip()]
        if clean:
            setattr(ds, keyword, clean if len(clean) > 1 else clean[0])
    return ds


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


def _worth_showing(text: str) -> bool:
    """Other text offered as a suggestion: three or more letters or digits, or two digits
    (specks and shadows read as "ee" or "=" are left out)."""
    return sum(c.isalnum() for c in text) >= 3 or sum(c.isdigit() for c in text) >= 2


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
    try:
        ds = _values(request.POST.get("values", ""))
        frame = _frame(upload)
    except Refused as exc:
        return _error(str(exc))
    height, width = frame.shape[:2]
    if not ocr_available():
        return JsonResponse({"ocr": False, "width": width, "height": height, "boxes": []})
    boxes = detect_text(frame, identifying_words(ds))
    found = [
        {**b.region(height, width), "identifying": b.identifying}
        for b in boxes
        if b.identifying or _worth_showing(b.text)
    ]
    record(
        request,
        "pixels.preview_detected",
        boxes=len(found),
        identifying=sum(b["identifying"] for b in found),
    )
    return JsonResponse({"ocr": True, "width": width, "height": height, "boxes": found})
