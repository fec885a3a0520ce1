"""Queue Celery tasks once the current database transaction has committed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


def after_commit(func: Callable[..., Any], *args: Any) -> None:
    """Call ``func(*args)`` (typically ``some_task.delay``) once the transaction commits.

    Robust: a failure (the broker is down) is logged, not raised, so the request that
    committed still succeeds; each caller has a safety net that sends the work later.
    The callback is a named function, not a ``functools.partial``: Django logs a failed
    robust callback by its ``__qualname__``, which a partial lacks (the logging itself
    would then raise, and the request would fail after all).
    """

    def callback() -> None:
        func(*args)

    name = getattr(func, "__qualname__", None) or type(func).__name__
    callback.__qualname__ = f"{name}{args!r}"
    transaction.on_commit(callback, robust=True)
