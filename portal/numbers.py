"""Numbers read from requests (query strings, forms, JSON bodies).

Python's ``float()`` accepts ``"nan"``, ``"inf"`` and ``"1e999"`` (infinity): none of them is
a value a user can mean, and they break what comes after (JSON fields refuse them,
arithmetic turns into NaN). :func:`finite_float` is the one way views parse a float.
"""

from __future__ import annotations

import math


def finite_float(value: object, name: str = "the value") -> float:
    """``value`` as a finite float.

    Raises
    ------
    ValueError
        With a plain message naming ``name``, for anything that is not a finite number.
    """
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number")
    return number
