"""Slice PNGs for the viewer: render with the engine, keep them in two tiers.

The key covers everything that changes the pixels (instance and its stored file, frame,
window, preset, size, invert, engine version). A slice is looked up in

1. the hot cache (Django's cache: Redis in production), where every PNG served goes for
   ``SLICE_CACHE_SECONDS``: Redis' own ``maxmemory`` with ``volatile-lru`` bounds it;
2. derived storage (Django storage, shared by every host): the default-window slices and
   thumbnails that pre-rendering made when the upload was done, kept until the instance
   is deleted (``uploads/storage.py`` names them, ``uploads/signals.py`` deletes them);
3. and else it is rendered.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage

from portal.numbers import finite_float
from uploads import storage
from uploads.dicom.errors import DicomInputError
from uploads.dicom.png import downscale
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
THUMBNAIL_SIZE = 128
#: The last chunk of every PNG: a stored copy cut short (a killed worker) lacks it.
PNG_END = b"IEND\xaeB`\x82"


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


def is_prerendered_kind(params: SliceParams) -> bool:
    """Whether pre-rendering makes this kind of slice (a frame in its default window at
    full size, or the thumbnail): only these are looked up in derived storage."""
    return params in (SliceParams(frame=params.frame), SliceParams(size=THUMBNAIL_SIZE))


def owner_of(instance: Instance) -> int:
    """The id of the account the instance's study belongs to (names its derived images)."""
    return int(instance.series.study.owner_id)


def derived_name(instance: Instance, params: SliceParams, owner_id: int | None = None) -> str:
    """Where the pre-rendered PNG of the instance for these parameters is stored."""
    owner = owner_of(instance) if owner_id is None else owner_id
    return storage.derived_name(owner, instance.pk, cache_key(instance, params)[4:])


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


def stored_slice(instance: Instance, params: SliceParams) -> tuple[bytes, str] | None:
    """The pre-rendered PNG and its ETag from derived storage, or None (not that kind of
    slice, not pre-rendered, storage unavailable). A hit goes into the hot cache.

    A frame in its default window asked at a smaller size (the viewer asks for its
    viewport's size) is shrunk from the full-size one, which costs a few milliseconds
    instead of decoding the frame again (tens for JPEG 2000)."""
    full = SliceParams(frame=params.frame)
    if is_prerendered_kind(params):
        png = read_derived(derived_name(instance, params))
    elif params.size is not None and params == replace(full, size=params.size):
        stored = read_derived(derived_name(instance, full))
        png = stored and shrunk(stored, params.size)
    else:
        return None
    if png is None:
        return None
    key = cache_key(instance, params)
    _store(key, png)
    return png, etag_of(key)


def shrunk(png: bytes, size: int) -> bytes | None:
    """``png`` shrunk to ``size`` (as it is when it is no larger); None when it cannot be
    read, so the frame is rendered instead: a damaged stored image must not fail the
    request."""
    try:
        return downscale(png, size) or png
    except Exception as exc:
        log.warning("derived image not shrunk (%s)", type(exc).__name__)
        return None


def read_derived(name: str) -> bytes | None:
    """A stored derived PNG, or None; a copy cut short is removed (it is rendered again)."""
    try:
        with default_storage.open(name, "rb") as handle:
            png = bytes(handle.read())
    except FileNotFoundError:
        return None
    except Exception as exc:  # the storage is down: only costs a render
        log.warning("derived storage unavailable (%s)", type(exc).__name__)
        return None
    if not png.endswith(PNG_END):
        log.warning("derived image cut short; removed")
        storage.delete_quietly(name)
        return None
    return png


def slice_png(instance: Instance, params: SliceParams) -> tuple[bytes, str]:
    """PNG bytes and their ETag: from the hot cache, derived storage, or rendered."""
    return (
        cached_slice(instance, params)
        or stored_slice(instance, params)
        or render_slice(instance, params)
    )


def render_slice(instance: Instance, params: SliceParams) -> tuple[bytes, str]:
    """Render (no lookup) and put the PNG in the hot cache; returns it with its ETag."""
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
        cache.set(key, png, settings.SLICE_CACHE_SECONDS)
    except Exception as exc:
        log.warning("slice cache unavailable (%s)", type(exc).__name__)


class Interrupted(Exception):
    """Pre-rendering stopped because other work is waiting; ``rendered`` slices were made."""

    def __init__(self, rendered: int) -> None:
        super().__init__(f"stopped after {rendered} slices")
        self.rendered = rendered


def prerender(instance: Instance, thumbnail: bool = True, frames: range | None = None) -> int:
    """Default-window slices of the frames (all by default) and the thumbnail, into
    derived storage; what is stored already is skipped. Returns how many were rendered."""
    owner = owner_of(instance)
    have = set(storage.derived_names(owner, instance.pk))
    rendered = 0
    ds = None
    wanted = [SliceParams(size=THUMBNAIL_SIZE)] if thumbnail else []
    frames = range(max(instance.frames, 1)) if frames is None else frames
    wanted += [SliceParams(frame=f) for f in frames]
    for params in wanted:
        name = derived_name(instance, params, owner)
        if name in have:
            continue
        if ds is None:  # read and parse once for every frame
            ds = read_dataset(read_instance(instance))
        storage.store_derived(name, render_png(ds, params.request()).png)
        rendered += 1
    if rendered and not Instance.objects.filter(pk=instance.pk).exists():
        # Deleted while we rendered: its deletion may have listed the folder before our
        # writes, so remove what we stored. (Deleted after this check, the deletion's own
        # clean-up, which runs on commit, sees our files.)
        storage.delete_derived(owner, instance.pk)
    return rendered


def prerender_study(
    study_id: int, slices: int | None = None, give_way: Callable[[], bool] | None = None
) -> int:
    """Store what a study's first look needs: each series' thumbnail (its middle image,
    as the viewer shows it) and the default-window slices of up to ``slices``
    (``PRERENDER_SLICES``) frames around the middle, where the viewer opens. The rest
    render on demand; this bounds the storage a large study takes.

    ``give_way`` is asked before each image; when it says yes, :class:`Interrupted` is
    raised (what is stored stays: a later run skips it).
    """
    slices = settings.PRERENDER_SLICES if slices is None else slices
    rendered = 0
    for series in Series.objects.filter(study_id=study_id).order_by("number", "id"):
        images = list(
            series.instances.filter(has_pixels=True)
            .select_related("series__study")
            .order_by("slice_position", "instance_number", "id")
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
            if give_way is not None and give_way():
                raise Interrupted(rendered)
            try:
                rendered += prerender(
                    instance,
                    thumbnail=n == middle,
                    frames=range(mine[0], mine[-1] + 1) if mine else range(0),
                )
            except DicomInputError as exc:
                log.info("instance %s not pre-rendered: %s", instance.pk, exc)
    return rendered
