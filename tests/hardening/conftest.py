"""Fixtures for the hardening tests: an upload API runner with tasks executed, checks of
per-file messages, and the ``slow`` switch (skipped unless ``--run-slow`` or RUN_SLOW=1).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# The upload API with its tasks run (``api``, ``Runner``) is that of tests/uploads.
from tests.uploads.conftest import (  # noqa: F401  (fixtures and helpers used here)
    Runner,
    UploadClient,
    api,
    imported_study,
    mr_series,
)

HERE = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    # Registered when pytest is pointed at this folder (``pytest tests/hardening``); a run
    # from the repository root uses RUN_SLOW=1 instead.
    with contextlib.suppress(ValueError):  # already registered by another conftest
        parser.addoption("--run-slow", action="store_true", help="run tests marked slow")


def run_slow(config: pytest.Config) -> bool:
    flag = bool(config.getoption("--run-slow", default=False))
    return flag or os.environ.get("RUN_SLOW", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if run_slow(config):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords and HERE in Path(str(item.path)).parents:
            item.add_marker(skip)


# -- per-file messages -----------------------------------------------------------------------

#: What a message for the uploader must never look like.
NOT_A_MESSAGE = re.compile(r"Traceback|File \"|line \d+, in|<[a-z_.]+ object at 0x|\\x[0-9a-f]{2}")


def assert_clear_message(message: str, *, contains: str = "") -> None:
    """A plain message: present, short, no traceback or repr, the expected word in it."""
    assert message and message.strip(), "no message"
    assert len(message) <= 500, message
    assert not NOT_A_MESSAGE.search(message), message
    if contains:
        assert contains.lower() in message.lower(), f"{contains!r} not in {message!r}"


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _status_kb(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    assert match, field
    return int(match.group(1))


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Yields a list whose only item becomes the growth of peak resident memory (bytes)
    over the block: Linux's high-water mark, reset first (``/proc/self/clear_refs``), so
    allocations in C (zlib, decoders) count too. Falls back to tracemalloc elsewhere."""
    result = [0]
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kb("VmRSS")
    except OSError:
        tracemalloc.start()
        try:
            yield result
        finally:
            result[0] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return
    yield result
    result[0] = max(0, _status_kb("VmHWM") - before) * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
