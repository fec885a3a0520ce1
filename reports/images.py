"""Key images of a report as PNG bytes: the one place that calls the rendering engine."""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.storage import default_storage

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


def key_image_png(entry: dict[str, Any], size: int = KEY_IMAGE_SIZE) -> bytes | None:
    """Render one key image ``{instance_id, frame, center, width}`` to PNG.

    Parameters
    ----------
    entry
        A key image as stored on a report version.
    size
        Longest side of the PNG, in pixels.

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
            return render_png(handle.read(), request).png
    except Exception as exc:  # one bad image must not stop the PDF
        log.warning("key image of instance %s: %s", instance.pk, type(exc).__name__)
        return None


def describe(entry: dict[str, Any]) -> str:
    """A caption: series and image number, frame and window (no patient data)."""
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
    return ", ".join(parts)
