"""Fixed-window rate limits kept in the cache (Redis in production, shared by every
web process; a file cache in an embedded run).

``hit(key, limit, window)`` counts one event for ``key`` in the current window of
``window`` seconds and says whether it is still within ``limit``. Rates are written
``"N/period"`` (``"10/hour"``, ``"60/h"``, ``"5/minute"``, ``"100/day"``, ``"3/30s"``) in
settings such as ``SIGNUP_RATE`` and ``UPLOAD_CREATE_RATE``; ``"0"``/empty switches the
limit off.

When the cache is unreachable the limit is not enforced (logged): a Redis restart must
not turn sign-ups and uploads into errors.
"""

from __future__ import annotations

import logging
import re
import time

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
           "h": 3600, "hour": 3600, "d": 86400, "day": 86400}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


def parse_rate(rate: str) -> tuple[int, int] | None:
    """``"10/hour"`` -> (10, 3600); None when the limit is off (``"0"``, ``""``).

    Raises
    ------
    ValueError
        For a rate that is not ``N/period``.
    """
    text = str(rate or "").strip().lower()
    if text in {"", "0", "off", "none"}:
        return None
    match = _RATE.match(text)
    unit = match.group(3) if match else ""
    period = PERIODS.get(unit) or PERIODS.get(unit.removesuffix("s"))  # "hours" -> "hour"
    if match is None or period is None:
        raise ValueError(f"rate {rate!r} must look like '10/hour', '60/h' or '5/30s'")
    count = int(match.group(1))
    return (count, period * int(match.group(2) or 1)) if count > 0 else None


def _name(key: str, window: int, now: float) -> str:
    return f"ratelimit:{key}:{window}:{int(now // window)}"


def hit(key: str, limit: int, window: int) -> bool:
    """Count one event for ``key``; True while at most ``limit`` happened in this window."""
    name = _name(key, window, time.time())
    try:
        if cache.add(name, 1, window + 5):
            count = 1
        else:
            try:
                count = cache.incr(name)
            except ValueError:  # expired between add and incr
                cache.set(name, 1, window + 5)
                count = 1
    except Exception as exc:  # the cache is down: do not fail the request over a counter
        log.warning("rate limit %s not checked: cache unavailable (%s)", key.split(":")[0],
                    type(exc).__name__)  # fmt: skip
        return True
    return count <= limit


def allow(scope: str, ident: object, setting: str) -> bool:
    """One event of ``scope`` by ``ident`` (an IP, a user id) under the rate in
    ``settings.<setting>``."""
    rate = parse_rate(getattr(settings, setting))
    if rate is None:
        return True
    return hit(f"{scope}:{ident}", *rate)


def reset(scope: str, ident: object, setting: str) -> None:
    """Forget the current window's count (tests, an administrator lifting a block)."""
    rate = parse_rate(getattr(settings, setting))
    if rate is not None:
        cache.delete(_name(f"{scope}:{ident}", rate[1], time.time()))
