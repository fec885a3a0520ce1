"""`manage.py import_dicom`: the same pipeline from files, folders and ZIPs on disk."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from tests.conftest import REPO, storage_env, worker_database_url
from tests.uploads.conftest import sample_bytes, zip_bytes
from uploads.intake import quarantine
from uploads.models import Instance, Study

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Callable[..., list[dict[str, Any]]]:
    """Run the command; its on-commit hooks fire as they would in autocommit mode."""

    def _run(*args: str) -> list[dict[str, Any]]:
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import_dicom", *args, stdout=out)
        return [json.loads(line) for line in out.getvalue().splitlines()]

    return _run


def test_import_folder_zip_and_junk(
    run: Any, tmp_path: Path, mr_series: list[Path], patient: Any
) -> None:
    cd = tmp_path / "CD"
    (cd / "IMAGES").mkdir(parents=True)
    for path in mr_series[:10]:
        shutil.copy(path, cd / "IMAGES" / path.name)
    (cd / "autorun.inf").write_text("[autorun]\nopen=viewer.exe\n")
    (cd / "viewer.exe").write_bytes(b"MZ" + b"\0" * 500)
    (cd / "empty.dcm").write_bytes(b"")
    archive = tmp_path / "rest.zip"
    archive.write_bytes(zip_bytes({p.name: p.read_bytes() for p in mr_series[10:]}))
    lines = run(str(cd), str(archive), "--owner", patient.email)
    study = Study.objects.get(owner=patient)
    assert lines[0] == {"study": study.pk, "instances_stored": 20, "duplicates": 0, "rejected": []}
    junk = lines[-1]
    assert junk["study"] is None and junk["instances_stored"] == 0
    reasons = {Path(r["file"]).name: r["reason"] for r in junk["rejected"]}
    assert set(reasons) == {"autorun.inf", "viewer.exe", "empty.dcm"}
    assert all(reason for reason in reasons.values())
    assert quarantine.is_empty()
    # Importing again stores nothing twice.
    again = run(str(cd / "IMAGES"), "--owner", patient.email)
    assert again[0] == {"study": study.pk, "instances_stored": 0, "duplicates": 10, "rejected": []}
    assert Instance.objects.count() == 20


def test_import_same_bytes_twice_counts_a_duplicate(run: Any, tmp_path: Path, patient: Any) -> None:
    data = sample_bytes("CT_small.dcm")
    (tmp_path / "a.dcm").write_bytes(data)
    (tmp_path / "b.dcm").write_bytes(data)
    (line,) = run(str(tmp_path), "--owner", patient.email)
    assert line["instances_stored"] == 1 and line["duplicates"] == 1


def test_import_with_a_question_makes_a_request_also_for_a_study_imported_before(
    run: Any, tmp_path: Path, patient: Any
) -> None:
    from uploads.models import ReviewRequest

    (tmp_path / "ct.dcm").write_bytes(sample_bytes("CT_small.dcm"))
    run(str(tmp_path), "--owner", patient.email)
    assert not ReviewRequest.objects.exists()  # no question: a research import asks nothing
    run(str(tmp_path), "--owner", patient.email, "--question", "Any change?")
    case = ReviewRequest.objects.get(owner=patient)
    assert case.clinical_question == "Any change?" and case.requested_at is not None
    assert list(case.studies.all()) == [Study.objects.get(owner=patient)]


def test_import_errors(run: Any, tmp_path: Path, patient: Any) -> None:
    with pytest.raises(CommandError, match="no account"):
        run(str(tmp_path), "--owner", "nobody@example.org")
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "missing"), "--owner", patient.email)
    with pytest.raises(CommandError, match="no files"):
        run(str(tmp_path), "--owner", patient.email)


@pytest.mark.django_db(transaction=True)
def test_parallel_import_stores_every_file_once(
    require_postgres: None, tmp_path: Path, mr_series: list[Path], patient: Any
) -> None:
    """``manage.py import_dicom --jobs 3`` as a user runs it (its own process, on
    PostgreSQL): the forked processes claim batches side by side (a ZIP's members join
    the upload while they run); every file is stored once, none twice, none left waiting,
    and the report counts them all. More than one process did the work."""
    folder = tmp_path / "in"
    folder.mkdir()
    for path in mr_series[:12]:
        shutil.copy(path, folder / path.name)
    (folder / "rest.zip").write_bytes(zip_bytes({p.name: p.read_bytes() for p in mr_series[12:]}))
    shutil.copy(mr_series[0], folder / "again.dcm")  # the same bytes twice
    env = {**os.environ, "DATABASE_URL": worker_database_url(),
           "MEDIA_ROOT": str(settings.MEDIA_ROOT), "SECRET_KEY": settings.SECRET_KEY,
           "DEID_SECRET": settings.DEID_SECRET, "INGEST_BATCH_SIZE": "2",
           "LOG_LEVEL": "INFO", **storage_env()}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "manage.py", "import_dicom", str(folder), "--owner", patient.email,
         "--jobs", "3"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    study = Study.objects.get(owner=patient)
    assert lines == [{"study": study.pk, "instances_stored": 20, "duplicates": 1, "rejected": []}]
    assert Instance.objects.filter(series__study=study).count() == 20
    assert quarantine.is_empty()
    # Each batch is logged by the process that ran it ("[pid]" in the log format).
    pids = set(re.findall(r"\[(\d+)\].*upload file \d+: stored", done.stderr))
    assert len(pids) >= 2, done.stderr[-2000:]
