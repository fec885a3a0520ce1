"""Fixtures of the share-link and export tests."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from tests.uploads.conftest import ct_series, imported_study, mr_series  # noqa: F401
from uploads.sharing.links import reset_throttle

#: The client addresses the tests use.
ADDRESSES = ["127.0.0.1", *(f"10.0.0.{n}" for n in range(10)), *(f"10.1.0.{n}" for n in range(10))]


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Iterator[None]:
    """Failed-attempt counters live in the cache: start and end every test clean."""
    for ip in ADDRESSES:
        reset_throttle(ip)
    yield
    for ip in ADDRESSES:
        reset_throttle(ip)


@pytest.fixture
def other_study(db: None, other_patient: Any) -> Any:
    """Another patient's study with two images: a link to ``imported_study`` must not reach it."""
    from tests.reports.factories import make_study

    return make_study(other_patient, instances=2)


def import_files(paths: list[Path] | list[str], owner: Any) -> list[dict[str, Any]]:
    """Run ``import_dicom`` and return its JSON lines."""
    out = io.StringIO()
    call_command("import_dicom", *map(str, paths), "--owner", owner.email, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def open_link(client: Any, token: str, **extra: Any) -> Any:
    return client.get(f"/s/{token}/", **extra)
