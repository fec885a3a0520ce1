"""Series volumes for the multiplanar reformat, kept in the web worker's memory.

Building a volume reads every image of a series from storage (about a second for 300
slices); a plane cut from it then costs a few milliseconds. Each worker process keeps the
``MPR_VOLUME_CACHE`` most recently used volumes (least recently used out first). The key
holds the series and the names of its stored files, so a series whose images changed is
built again; a volume is built once even when several requests ask for it at the same
time. Series whose geometry a volume needs (Image Position/Orientation per image) are
described by :func:`series_geometry` for the browser's reference lines and synchronised
scrolling.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db.models import Count, Max, Q, QuerySet

from uploads.dicom.render import read_dataset
from uploads.dicom.values import floats
from uploads.dicom.volume import Volume, check_volume_size, load_volume
from uploads.models import Instance, Series
from uploads.viewer.rendering import read_instance

_volumes: OrderedDict[str, Volume] = OrderedDict()
_building: dict[str, threading.Lock] = {}
_lock = threading.Lock()


def images_of(series: Series) -> list[Instance]:
    """The series' images in the viewer's order (as the manifest lists them)."""
    return list(
        series.instances.filter(has_pixels=True)
        .order_by("slice_position", "instance_number", "id")
        .only("id", "file", "rows", "columns", "frames", "series_id")
    )


def with_image_summary(series: QuerySet[Series]) -> QuerySet[Series]:
    """The series with what names their current images (:func:`volume_key`), in the same
    query: a plane request must not list a 300-slice series row by row."""
    images = Q(instances__has_pixels=True)
    return series.select_related("study").annotate(
        image_count=Count("instances", filter=images),
        last_image=Max("instances__id", filter=images),
        newest_image=Max("instances__created_at", filter=images),
    )


def volume_key(series: Series) -> str:
    """Names the series' current images: adding, removing or replacing an image changes
    their count, the last id or the newest creation time; the creation time also keeps a
    reused id (a restored database, a test run) from naming another series' volume."""
    summary = getattr(series, "image_count", None)
    if summary is None:
        series = with_image_summary(Series.objects.filter(pk=series.pk)).get()
    newest = series.newest_image.timestamp() if series.newest_image else 0  # type: ignore[attr-defined]
    raw = f"{series.pk}:{series.image_count}:{series.last_image}:{newest}"  # type: ignore[attr-defined]
    return f"{series.pk}:{hashlib.sha256(raw.encode()).hexdigest()[:24]}"


def series_volume(series: Series) -> tuple[Volume, str]:
    """The series' volume (from this process' cache or built) and its cache key.

    Raises :class:`~uploads.dicom.formats.VolumeError` (a message in words) when the
    series is no stack or too large, :class:`~uploads.dicom.errors.DicomInputError` when
    an image cannot be read.
    """
    key = volume_key(series)
    with _lock:
        if key in _volumes:
            _volumes.move_to_end(key)
            return _volumes[key], key
        building = _building.setdefault(key, threading.Lock())
    with building:  # one build per key; the others wait for it
        with _lock:
            if key in _volumes:
                _volumes.move_to_end(key)
                return _volumes[key], key
        images = images_of(series)
        first = images[0] if images else None
        check_volume_size(len(images), first.rows if first else 0,
                          first.columns if first else 0, settings.MPR_MAX_VOXELS)  # fmt: skip
        volume = load_volume([read_instance(i) for i in images])
        with _lock:
            _volumes[key] = volume
            while len(_volumes) > max(1, settings.MPR_VOLUME_CACHE):
                _volumes.popitem(last=False)
            _building.pop(key, None)
    return volume, key


def cached_volume_count() -> int:
    with _lock:
        return len(_volumes)


def forget_volumes() -> None:
    """Empty this process' volume cache (tests)."""
    with _lock:
        _volumes.clear()


def series_geometry(series: Series) -> dict[str, Any]:
    """Where each image of the series lies (PS3.3 C.7.6.2 Image Plane: Image Position and
    Orientation (Patient), Pixel Spacing) and its Frame of Reference UID, in manifest
    order. Read from the stored headers once, then from the cache."""
    key = "geometry:" + volume_key(series)
    found = cache.get(key)
    if isinstance(found, dict):
        return found
    images = images_of(series)
    frame_of_reference = ""
    entries = []
    for image in images:
        with default_storage.open(image.file, "rb") as handle:
            ds = read_dataset(handle, pixels=False)
        frame_of_reference = frame_of_reference or str(ds.get("FrameOfReferenceUID", ""))
        position = floats(ds.get("ImagePositionPatient"), 3)
        orientation = floats(ds.get("ImageOrientationPatient"), 6)
        spacing = floats(ds.get("PixelSpacing"), 2)
        entries.append(
            {
                "id": image.pk,
                "position": list(position) if position else None,
                "orientation": list(orientation) if orientation else None,
                "spacing": list(spacing) if spacing else None,
                "rows": image.rows,
                "columns": image.columns,
            }
        )
    result = {"series": series.pk, "frame_of_reference": frame_of_reference, "images": entries}
    cache.set(key, result, settings.SLICE_CACHE_SECONDS)
    return result
