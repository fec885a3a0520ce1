"""DICOMweb test data: pydicom's test files imported through the real pipeline, and a
personal API token from the real command."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from pydicom.data import get_testdata_file

#: An uncompressed CT, an uncompressed MR and a 10-frame JPEG 2000 MR (three studies).
FILES = ["CT_small.dcm", "MR_small.dcm", "emri_small_jpeg_2k_lossless.dcm"]


def sample_path(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(str(path))


def import_files(owner: Any, names: list[str]) -> None:
    """Import the files with a question: a review request about them waits in the pool."""
    paths = [str(sample_path(name)) for name in names]
    call_command("import_dicom", *paths, "--owner", owner.email, "--jobs", "1",
                 "--question", "Any abnormality?", stdout=io.StringIO())  # fmt: skip


def new_token(user: Any, *extra: str) -> str:
    out = io.StringIO()
    call_command("api_token", user.email, *extra, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


@pytest.fixture
def patient_studies(patient: Any) -> Any:
    from uploads.models import Study

    import_files(patient, FILES)
    return Study.objects.filter(owner=patient).order_by("pk")


@pytest.fixture
def other_study(other_patient: Any) -> Any:
    from uploads.models import Study

    import_files(other_patient, ["JPEG2000.dcm"])
    return Study.objects.get(owner=other_patient)
