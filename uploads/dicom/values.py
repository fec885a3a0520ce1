"""Reading numeric multi-valued attributes safely (shared by render, series, export)."""

from __future__ import annotations

import math
from typing import Any


def floats(value: Any, n: int) -> tuple[float, ...] | None:
    """Return exactly `n` finite floats from a multi-valued element, or None.

    Examples
    --------
    >>> floats(["1", "0", "0"], 3), floats("1\\\\0", 2), floats([1, float("nan")], 2)
    ((1.0, 0.0, 0.0), None, None)
    """
    if value is None or isinstance(value, str | bytes):
        return None
    try:
        items = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(items) != n or not all(math.isfinite(v) for v in items):
        return None
    return items
