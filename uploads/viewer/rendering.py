"""Slice PNGs for the viewer: render with the engine, cache by instance and parameters.

The cache key covers everything that changes the pixels (instance, frame, window, preset,
size, invert, engine version); cached PNGs live in Django's cache (Redis in production).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage

from portal.numbers import finite_float
from uploads.dicom.errors import DicomInputError
from uploads.dicom.render import (
    AUTO,
    PRESETS,
    RenderRequest,
    Window,
    read_dataset,
    render_png,
)
from uploads.models import Instance, Series

log = logging.getLogger(__name__)

ENGINE_VERSION = "1"
CACHE_SECONDS = 7 * 24 * 3600
THUMBNAIL_SIZE = 128


@dataclass(frozen=True)
class SliceParams:
    frame: int = 0
    center: float | None = None
    width: float | None = None
    preset: str = ""
    size: int | None = None
    invert: bool = False

    @classmethod
    def from_query(cls, query: Any) -> SliceParams:
        """Parse and bound request parameters; ValueError on nonsense."""
        frame = int(query.get("frame", 0) or 0)
        center = query.get("wc")
        width = query.get("ww")
        size = query.get("size")
        preset = str(query.get("preset", "") or "")
        if preset and preset != AUTO and preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}")
        params = cls(
            frame=frame,
            center=finite_float(center, "wc") if center not in (None, "") else None,
            width=finite_float(width, "ww") if width not in (None, "") else None,
            preset=preset,
            size=int(size) if size not in (None, "") else None,
            invert=str(query.get("invert", "")).lower() in {"1", "true"},
        )
        if params.frame < 0 or (params.size is not None and not 16 <= params.size <= 4096):
            raise ValueError("frame must be ≥ 0 and size between 16 and 4096")
        if (params.center is None) != (params.width is None):
            raise ValueError("give both wc and ww, or neither")
        if params.width is not None and params.width <= 0:
            raise ValueError("ww must be positive")
        return params

    def request(self) -> RenderRequest:
        window = None
        if self.center is not None and self.width is not None:
            window = Window(self.center, self.width)
        return RenderRequest(
            frame=self.frame,
            window=window,
            preset=self.preset or None,
            size=self.size,
            invert=self.invert,
        )


def file_tag(storage_name: str) -> str:
    """A short name of a stored file (its name holds the instance's UIDs). Part of the cache
    key, so a cache that outlives a database (a restore, a test run) never serves another
    file's pixels under a reused id."""
    return hashlib.sha256(storage_name.encode()).hexdigest()[:16]


def cache_key(instance: Instance | tuple[int, str], params: SliceParams) -> str:
    """Key of a rendered slice: the instance (id and stored file) and the parameters."""
    instance_id, tag = (
        instance if isinstance(instance, tuple) else (instance.pk, file_tag(instance.file))
    )
    raw = f"{ENGINE_VERSION}|{instance_id}|{tag}|{params}"
    return "png:" + hashlib.sha256(raw.encode()).hexdigest()


def cached_slice(
    instance: Instance | tuple[int, str], params: SliceParams
) -> tuple[bytes, str] | None:
    """The cached PNG and its ETag; given ``(id, file tag)`` no database is touched."""
    key = cache_key(instance, params)
    png = _cached(key)
    return None if png is None else (png, etag_of(key))


def etag_of(key: str) -> str:
    return key.split(":", 1)[1][:32]


def read_instance(instance: Instance) -> bytes:
    with default_storage.open(instance.file, "rb") as handle:
        return bytes(handle.read())


def slice_png(instance: Instance, params: SliceParams) -> tuple[bytes, str]:
    """PNG bytes and their ETag; from the cache when possible."""
    return cached_slice(instance, params) or render_slice(instance, params)


def render_slice(instance: Instance, params: SliceParams) -> tuple[bytes, str]:
    """Render (no cache lookup) and cache the PNG; returns it with its ETag."""
    if params.frame >= max(instance.frames, 1):
        raise ValueError(f"frame {params.frame} does not exist")
    key = cache_key(instance, params)
    png = render_png(read_instance(instance), params.request()).png
    _store(key, png)
    return png, etag_of(key)


def _cached(key: str) -> bytes | None:
    """The cached PNG, or None; a cache that is down only costs a render."""
    try:
        value = cache.get(key)
    except Exception as exc:
        log.warning("slice cache unavailable (%s)", type(exc).__name__)
        return None
    return value if isinstance(value, bytes) else None


def _store(key: str, png: bytes) -> None:
    try:
        cache.set(key, png, CACHE_SECONDS)
    except Exception as exc:
        log.warning("slice cache unavailable (%s)", type(exc).__name__)


def prerender(instance: Instance, thumbnail: bool = True, frames: range | None = None) -> int:
    """Default-window slices of the frames (all by default) and the thumbnail, into the
    cache; what is cached already is skipped."""
    rendered = 0
    ds = None
    wanted = [SliceParams(size=THUMBNAIL_SIZE)] if thumbnail else []
    frames = range(max(instance.frames, 1)) if frames is None else frames
    wanted += [SliceParams(frame=f) for f in frames]
    for params in wanted:
        key = cache_key(instance, params)
        if _cached(key) is not None:
            continue
        if ds is None:  # read and parse once for every frame
            ds = read_dataset(read_instance(instance))
        _store(key, render_png(ds, params.request()).png)
        rendered += 1
    return rendered


def prerender_study(study_id: int, slices: int | None = None) -> int:
    """Warm the cache for a study's first look: each series' thumbnail (its middle image,
    as the viewer shows it) and the default-window slices of up to ``slices``
    (``PRERENDER_SLICES``) frames around the middle, where the viewer opens. The rest
    render on demand; this bounds the cache a large study takes."""
    slices = settings.PRERENDER_SLICES if slices is None else slices
    rendered = 0
    for series in Series.objects.filter(study_id=study_id).order_by("number", "id"):
        images = list(
            series.instances.filter(has_pixels=True).order_by(
                "slice_position", "instance_number", "id"
            )
        )
        # Every frame of the series in viewer order, and the window around its middle.
        frames = [(n, f) for n, image in enumerate(images) for f in range(max(image.frames, 1))]
        start = max(0, len(frames) // 2 - slices // 2)
        window = frames[start : start + slices]
        middle = len(images) // 2
        for n, instance in enumerate(images):
            mine = [f for image, f in window if image == n]
            if not mine and n != middle:
                continue
            try:
                rendered += prerender(
                    instance,
                    thumbnail=n == middle,
                    frames=range(mine[0], mine[-1] + 1) if mine else range(0),
                )
            except DicomInputError as exc:
                log.info("instance %s not pre-rendered: %s", instance.pk, exc)
    return rendered
