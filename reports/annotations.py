"""Annotations of a report draft: measurements drawn in the viewer, kept with the report.

An annotation belongs to one image (instance and frame) and is stored in that image's
own pixel coordinates (Columns x Rows; ``uploads/dicom/roi.py`` explains the grid):

``{"id": "a1", "instance_id": 12, "frame": 0, "kind": "ellipse", "points": [[x, y], ...]}``

=========== ====== ================================================
kind        points meaning
=========== ====== ================================================
length      2      a line between the two points
angle       3      the angle at the middle point
rectangle   2      opposite corners
ellipse     2      opposite corners of the box the ellipse fills
probe       1      the pixel whose value is shown
=========== ====== ================================================

They are validated here, at the edge: every instance must be an image of the request's studies and
every point a finite number inside that image.
"""

from __future__ import annotations

import math
import re
from typing import Any

from reports.errors import Invalid
from uploads.models import Instance, ReviewRequest

MAX_ANNOTATIONS = 200
POINTS = {"length": 2, "angle": 3, "rectangle": 2, "ellipse": 2, "probe": 1}
KIND_NAMES = {
    "length": "length",
    "angle": "angle",
    "rectangle": "rectangle region",
    "ellipse": "ellipse region",
    "probe": "pixel value",
}
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _point(value: Any, columns: int, rows: int) -> list[float]:
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise Invalid("Each point of an annotation must be a pair of numbers.")
    out = []
    for number, limit in zip(value, (columns, rows), strict=True):
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise Invalid("Each point of an annotation must be a pair of numbers.")
        if not math.isfinite(number) or not 0 <= number <= limit:
            raise Invalid("An annotation lies outside its image.")
        out.append(round(float(number), 3))
    return out


def clean_annotations(case: ReviewRequest, value: Any) -> list[dict[str, Any]]:
    """Validate a list of annotations against the images of the request's studies.

    Raises
    ------
    Invalid
        Not a list, too many, an unknown kind, a wrong number of points, a point that is
        not a number or lies outside its image, or an image of another request.
    """
    if not isinstance(value, list):
        raise Invalid("Annotations must be a list.")
    if len(value) > MAX_ANNOTATIONS:
        raise Invalid(f"At most {MAX_ANNOTATIONS} annotations.")
    ids: set[int] = set()
    for entry in value:
        if not isinstance(entry, dict):
            raise Invalid("Each annotation must be an object.")
        instance_id = entry.get("instance_id")
        if isinstance(instance_id, bool) or not isinstance(instance_id, int):
            raise Invalid("Each annotation needs the image it was drawn on.")
        ids.add(instance_id)
    sizes = {
        pk: (frames, columns, rows)
        for pk, frames, columns, rows in Instance.objects.filter(
            series__study__review_requests=case, pk__in=ids, has_pixels=True
        ).values_list("pk", "frames", "columns", "rows")
    }
    cleaned = []
    for index, entry in enumerate(value):
        if entry["instance_id"] not in sizes:
            raise Invalid("An annotation is not on an image of this request's studies.")
        frames, columns, rows = sizes[entry["instance_id"]]
        if not columns or not rows:
            raise Invalid("An annotation is on an image whose size is unknown.")
        kind = entry.get("kind")
        if kind not in POINTS:
            raise Invalid("Unknown kind of annotation.")
        frame = entry.get("frame", 0)
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < max(frames, 1):
            raise Invalid("An annotation's frame is out of range.")
        points = entry.get("points")
        if not isinstance(points, list) or len(points) != POINTS[kind]:
            raise Invalid(f"A {KIND_NAMES[kind]} needs {POINTS[kind]} point(s).")
        ident = str(entry.get("id") or f"a{index + 1}")
        if not ID_PATTERN.match(ident):
            raise Invalid("An annotation's id must be short letters and digits.")
        cleaned.append(
            {
                "id": ident,
                "instance_id": entry["instance_id"],
                "frame": frame,
                "kind": kind,
                "points": [_point(p, columns, rows) for p in points],
            }
        )
    return cleaned


def on_image(
    annotations: list[dict[str, Any]], instance_id: Any, frame: Any
) -> list[dict[str, Any]]:
    """The annotations drawn on one image (instance and frame)."""
    return [
        a
        for a in annotations
        if a.get("instance_id") == instance_id and a.get("frame", 0) == (frame or 0)
    ]
