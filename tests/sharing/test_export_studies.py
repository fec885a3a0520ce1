"""``manage.py export_studies``: a ZIP per study and a CSV of pseudonymised metadata."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from pydicom.fileset import FileSet

from tests.reports.factories import make_study
from uploads.models import Study, StudyStatus

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    call_command("export_studies", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_batch_export_writes_zips_and_metadata(
    patient: Any, other_patient: Any, imported_study: Any, mr_series: list[Path], tmp_path: Path
) -> None:
    old = make_study(other_patient, instances=1)
    Study.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    pending = make_study(other_patient, status=StudyStatus.PROCESSING, instances=1)
    recent = make_study(other_patient, instances=1, description="CT HEAD")
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    lines = run("--since", since, "--out", str(tmp_path / "out"))
    assert [line["study"] for line in lines] == [imported_study.pk, recent.pk]  # not old, pending
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "metadata.csv", f"study-{imported_study.pk}-dicom.zip", f"study-{recent.pk}-dicom.zip"
    ]  # fmt: skip
    with zipfile.ZipFile(out / f"study-{imported_study.pk}-dicom.zip") as archive:
        archive.extractall(tmp_path / "media")
    assert len(FileSet(tmp_path / "media" / "DICOMDIR")) == 20
    rows = list(csv.DictReader((out / "metadata.csv").open()))
    assert [row["study"] for row in rows] == [str(imported_study.pk), str(recent.pk)]
    mr = rows[0]
    original = pydicom.dcmread(mr_series[0], stop_before_pixels=True)
    assert mr["age"] == original.PatientAge and mr["sex"] == original.PatientSex  # retained
    assert mr["pseudonym"] == imported_study.patient_pseudonym != str(original.PatientID)
    assert mr["study_date"] == imported_study.study_date.isoformat()  # as shifted
    assert (
        mr["study_date"]
        != f"{original.StudyDate[:4]}-{original.StudyDate[4:6]}-{original.StudyDate[6:]}"
    )
    assert mr["modality"] == "MR"
    assert set(mr) == {"study", "pseudonym", "age", "sex", "modality", "study_date", "description"}
    text = (out / "metadata.csv").read_text()
    assert str(original.PatientID) not in text and original.StudyDate not in text
    assert rows[1]["description"] == "CT HEAD"
    # --owner narrows; the ZIP of a study is the same as the study page's export.
    lines = run("--since", since, "--owner", other_patient.email, "--out", str(tmp_path / "o2"))
    assert [line["study"] for line in lines] == [recent.pk]
    assert pending.pk not in [line["study"] for line in lines]


def test_batch_export_arguments(patient: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="date"):
        run("--since", "last week", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="no account"):
        run("--since", "2024-01-01", "--owner", "nobody@example.org", "--out", str(tmp_path))
    assert run("--since", "2024-01-01", "--out", str(tmp_path / "empty")) == []
    assert (tmp_path / "empty" / "metadata.csv").read_text().startswith("study,pseudonym,age")
