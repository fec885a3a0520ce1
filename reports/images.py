"""Key images of a report as PNG bytes: the one place that calls the rendering engine."""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.storage import default_storage

from reports import key_image_draw, measurements
from reports.annotations import KIND_NAMES, on_image
from uploads.dicom import roi
from uploads.dicom.errors import DicomInputError
from uploads.models import Instance

log = logging.getLogger(__name__)

KEY_IMAGE_SIZE = 512
#: Longest side of a key image on the web report (its thumbnail links to itself).
WEB_KEY_IMAGE_SIZE = 384


def engine_available() -> bool:
    """Whether ``uploads.dicom.render`` (the PNG renderer) can be imported."""
    try:
        import uploads.dicom.render  # noqa: F401
    except ImportError:
        return False
    return True


def key_image_png(
    entry: dict[str, Any],
    size: int = KEY_IMAGE_SIZE,
    annotations: list[dict[str, Any]] | None = None,
) -> bytes | None:
    """Render one key image ``{instance_id, frame, center, width}`` to PNG, with the
    annotations of its image drawn on it (and cropped to its zoom, if any).

    Parameters
    ----------
    entry
        A key image as stored on a report version.
    size
        Longest side of the PNG, in pixels.
    annotations
        The report version's annotations; those on this image are drawn.

    Returns
    -------
    bytes or None
        The PNG, or None when the engine is missing or the image cannot be rendered
        (the PDF then names the image without showing it).
    """
    try:
        from uploads.dicom.render import RenderRequest, Window, render_png
    except ImportError:
        log.warning("key image: rendering engine not available")
        return None
    instance_id = entry.get("instance_id")
    instance = (
        Instance.objects.filter(pk=instance_id).first() if isinstance(instance_id, int) else None
    )
    if instance is None or not instance.file:
        return None
    center, width = entry.get("center"), entry.get("width")
    window = Window(center, width) if center is not None and width is not None else None
    request = RenderRequest(frame=int(entry.get("frame") or 0), window=window, size=size)
    try:
        with default_storage.open(instance.file, "rb") as handle:
            data = handle.read()
        png = render_png(data, request).png
        marks = on_image(annotations or [], instance.pk, request.frame)
        if not marks and "zoom" not in entry:
            return png
        labels = _labels(data, request.frame, marks) if marks else {}
        return key_image_draw.draw(
            png, marks, instance.columns or 1, instance.rows or 1, labels, entry, size
        )
    except Exception as exc:  # one bad image must not stop the PDF
        log.warning("key image of instance %s: %s", instance.pk, type(exc).__name__)
        return None


def _labels(data: bytes, frame: int, marks: list[dict[str, Any]]) -> dict[str, str]:
    """The text beside each annotation, measured on the stored pixels."""
    try:
        values = roi.modality_frame(data, frame)
    except DicomInputError:  # a colour image: lengths and angles only
        values = None
    return {mark["id"]: measurements.measure(mark, values).label() for mark in marks}


def describe(entry: dict[str, Any], annotations: list[dict[str, Any]] | None = None) -> str:
    """A caption: series and image number, frame and window (no patient data), and with
    ``annotations`` the values of those drawn on this image (the text of the picture)."""
    instance_id = entry.get("instance_id")
    instance = (
        Instance.objects.select_related("series").filter(pk=instance_id).first()
        if isinstance(instance_id, int)
        else None
    )
    if instance is None:
        return "Image no longer available"
    parts = [
        f"Series {instance.series.number if instance.series.number is not None else '?'}",
        f"image {instance.instance_number if instance.instance_number is not None else '?'}",
    ]
    if instance.frames > 1:
        parts.append(f"frame {int(entry.get('frame') or 0) + 1}")
    if entry.get("center") is not None and entry.get("width") is not None:
        parts.append(f"W {entry['width']:g} / L {entry['center']:g}")
    caption = ", ".join(parts)
    marks = on_image(annotations or [], instance.pk, int(entry.get("frame") or 0))
    if not marks or not instance.file:
        return caption
    try:
        with default_storage.open(instance.file, "rb") as handle:
            labels = _labels(handle.read(), int(entry.get("frame") or 0), marks)
    except Exception as exc:  # the caption without values rather than no report
        log.warning("key image values of instance %s: %s", instance.pk, type(exc).__name__)
        return caption
    values = [f"{KIND_NAMES[m['kind']]} {labels[m['id']]}" for m in marks if labels.get(m["id"])]
    return f"{caption} — {'; '.join(values)}" if values else caption
