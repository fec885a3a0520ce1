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


def test_cohort_export_finds_listed_patients_and_writes_no_original_id(
    patient: Any, other_patient: Any, mr_series: list[Path], tmp_path: Path
) -> None:
    """A research list (original Patient IDs with ICD-10 codes) matched to pseudonymised
    studies: imported on the server (server key), or de-identified in the browser first
    (the uploader's key, then the server key; the Python engine stands in for the
    browser's here, which tests/uploads/test_deid_crosscheck.py shows gives the same)."""
    from pydicom.data import get_testdata_file

    from tests.sharing.conftest import import_files
    from tests.uploads.conftest import sample_bytes
    from uploads.dicom.deidentify import deidentify_bytes
    from uploads.intake.keys import uploader_key

    import_files(mr_series, patient)  # server path, patient 123565
    import_files([str(get_testdata_file("MR_small.dcm"))], patient)  # not listed: 4MR1
    browser = tmp_path / "browser"
    browser.mkdir()
    clean, _ = deidentify_bytes(sample_bytes("CT_small.dcm"), key=uploader_key(other_patient.pk))
    (browser / "ct.dcm").write_bytes(clean)  # patient 1CT1, as the upload page sends it
    import_files([browser / "ct.dcm"], other_patient)
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("patient_id,icd10\n123565,C71.9\n1CT1,J18.9\nNOT-HERE,I10\n")

    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    out = tmp_path / "out"
    lines = run("--since", since, "--out", str(out), "--cohort", str(cohort))
    assert lines[-1] == {"cohort": {"patients": 3, "found": 2, "studies": 2}}
    series = next(s for s in Study.objects.filter(owner=patient) if s.series.count() == 1
                  and s.series.get().instances.count() == 20)  # fmt: skip
    rows = list(csv.DictReader((out / "metadata.csv").open()))
    codes = {row["modality"]: (row["pseudonym"], row["icd10"]) for row in rows}
    assert len(rows) == 2 and codes["CT"][1] == "J18.9"
    assert codes["MR"] == (series.patient_pseudonym, "C71.9")  # the listed MR, not 4MR1
    written = (out / "metadata.csv").read_text() + json.dumps(lines)
    for original in ("123565", "1CT1", "NOT-HERE", "4MR1"):
        assert original not in written
    with pytest.raises(CommandError, match="patient_id column"):
        bad = tmp_path / "bad.csv"
        bad.write_text("id,icd10\n1,C00\n")
        run("--since", since, "--out", str(out), "--cohort", str(bad))
