"""Login throttling: after N failures for one address (or from one IP) in a window,
further attempts are refused until the window has passed. Counters live in the cache
(Redis in production, a file cache shared by the processes of an embedded run)."""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


def _keys(email: str, ip: str | None) -> list[str]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    keys = [f"login-fail:email:{digest}"]
    if ip:
        keys.append(f"login-fail:ip:{ip}")
    return keys


def is_locked(email: str, ip: str | None) -> bool:
    limits = [settings.LOGIN_MAX_FAILURES, settings.LOGIN_MAX_FAILURES * 4]
    try:
        counts = [cache.get(key, 0) for key in _keys(email, ip)]
    except Exception as exc:  # cache down: log in without throttling rather than not at all
        log.warning("login throttle unavailable (%s)", type(exc).__name__)
        return False
    return any(count >= limit for count, limit in zip(counts, limits, strict=False))


def record_failure(email: str, ip: str | None) -> None:
    try:
        _count(email, ip)
    except Exception as exc:
        log.warning("login throttle unavailable (%s)", type(exc).__name__)


def _count(email: str, ip: str | None) -> None:
    for key in _keys(email, ip):
        if cache.add(key, 1, settings.LOGIN_LOCKOUT_SECONDS):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, settings.LOGIN_LOCKOUT_SECONDS)


def reset(email: str) -> None:
    try:
        cache.delete(_keys(email, None)[0])
    except Exception as exc:
        log.warning("login throttle unavailable (%s)", type(exc).__name__)
