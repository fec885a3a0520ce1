"""Sessions read from the cache and written through to the database, that keep working
when the cache (Redis) is down: every cache call that fails counts as a miss, and the
database copy is used. ``SESSION_ENGINE = "portal.sessions"``."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends import cached_db
from django.core.cache import caches

log = logging.getLogger(__name__)


class _FailSafeCache:
    """The parts of the cache API the cached_db engine uses, with failures as misses."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def _try(self, name: str, *args: Any, default: Any = None) -> Any:
        try:
            return getattr(self._cache, name)(*args)
        except Exception as exc:  # the cache back-end's own errors (redis.ConnectionError...)
            log.warning("session cache unavailable (%s): using the database", type(exc).__name__)
            return default

    def get(self, *args: Any) -> Any:
        return self._try("get", *args)

    def set(self, *args: Any) -> None:
        self._try("set", *args)

    def delete(self, *args: Any) -> None:
        self._try("delete", *args)

    def __contains__(self, key: str) -> bool:
        return bool(self._try("__contains__", key, default=False))


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache: Any = _FailSafeCache(caches[settings.SESSION_CACHE_ALIAS])
