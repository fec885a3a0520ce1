"""Shared fixtures for the DICOM engine tests (plain pytest, no database).

Keep fixtures generic: more than one engine module's tests use this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

#: ``../shared`` beside the repository: real data kept outside the repo (may be absent).
SHARED_DIR = Path(__file__).resolve().parents[2] / ".." / "shared"


def sample_path(name: str) -> Path:
    """A file of pydicom's (or pydicom-data's) bundled test data, found offline."""
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} is not installed"
    return Path(str(path))


def sample_bytes(name: str) -> bytes:
    return sample_path(name).read_bytes()


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` (real DICOM beside the project); skips the test when it is absent."""
    path = SHARED_DIR.resolve()
    if not (path / "dicom").is_dir():
        pytest.skip("../shared/dicom is absent")
    return path
