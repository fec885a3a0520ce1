"""Annotations drawn onto a key image's PNG with Pillow, for the PDF and the web report.

The PNG comes from the renderer at some size; annotations are in the image's own pixel
grid (``reports/annotations.py``), so every point is scaled by the PNG's size over the
image's Columns x Rows. A key image taken zoomed in is cropped around the point that
was at the centre of the viewport.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

#: The viewer's measurement colour (frontend/src/viewer/annotations.js).
COLOUR = (255, 212, 0)


def draw(
    png: bytes,
    annotations: list[dict[str, Any]],
    columns: int,
    rows: int,
    labels: dict[str, str] | None = None,
    view: dict[str, float] | None = None,
    size: int | None = None,
) -> bytes:
    """The PNG with ``annotations`` drawn on it (and cropped to ``view``).

    Parameters
    ----------
    png
        The rendered image (any size; the aspect may differ for non-square pixels).
    annotations
        Annotations of this image, in image coordinates.
    columns, rows
        The image's size in its own pixels.
    labels
        Text to write beside each annotation, by its id (e.g. "12.3 mm").
    view
        ``{"zoom", "cx", "cy"}`` of the viewport the key image was taken from.
    size
        Longest side wanted: a smaller image (or a zoomed crop) is enlarged to it, so
        that lines and text stay readable.
    """
    image = _enlarged(Image.open(io.BytesIO(png)).convert("RGB"), size)
    # Image coordinates -> this picture: scale to the PNG, then crop and enlarge the
    # viewport of a zoomed key image; the lines are drawn last, on the final pixels.
    sx, sy = image.width / columns, image.height / rows
    left = top = 0.0
    if view and view.get("zoom", 1) > 1:
        zoom = view["zoom"]
        w, h = image.width / zoom, image.height / zoom
        left = min(max(0.0, view["cx"] * image.width - w / 2), image.width - w)
        top = min(max(0.0, view["cy"] * image.height - h / 2), image.height - h)
        box = (round(left), round(top), round(left + w), round(top + h))
        left, top = box[0], box[1]
        crop = image.crop(box)
        image = _enlarged(crop, size or max(image.size))
        factor = image.width / crop.width
        sx, sy, left, top = sx * factor, sy * factor, left * factor, top * factor
    pen = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 256))
    for mark in annotations:
        pts = [(x * sx - left, y * sy - top) for x, y in mark["points"]]
        kind = mark["kind"]
        if kind in ("length", "angle"):
            pen.line(pts, fill=COLOUR, width=width)
        elif kind in ("rectangle", "ellipse"):
            (x0, y0), (x1, y1) = pts
            corners = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            shape = pen.rectangle if kind == "rectangle" else pen.ellipse
            shape(corners, outline=COLOUR, width=width)
        elif kind == "probe":
            (x, y) = pts[0]
            r = 3 * width
            pen.line([(x - r, y), (x + r, y)], fill=COLOUR, width=width)
            pen.line([(x, y - r), (x, y + r)], fill=COLOUR, width=width)
        text = (labels or {}).get(mark.get("id", ""))
        if text:
            x, y = pts[-1]
            pen.text((x + 2 * width, y + 2 * width), text, fill=COLOUR)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _enlarged(image: Image.Image, size: int | None) -> Image.Image:
    """The image scaled up (never down) so that its longest side is ``size``."""
    longest = max(image.size)
    if not size or longest >= size:
        return image
    factor = size / longest
    return image.resize(
        (round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS
    )
