"""Issue 17: the patient's age and sex, kept by the profile's "retain patient
characteristics" option, appear in the radiologist's header; without the option, nothing
of them is stored."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.management import call_command
from pydicom.data import get_testdata_file

from tests.reports.factories import make_request
from uploads.models import Study

pytestmark = pytest.mark.django_db


def import_one(tmp_path: Path, owner: Any, **attributes: str) -> Study:
    ds = pydicom.dcmread(str(get_testdata_file("MR_small.dcm")))
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    path = tmp_path / "mr.dcm"
    ds.save_as(path, enforce_file_format=True)
    call_command("import_dicom", str(path), "--owner", owner.email, stdout=io.StringIO())
    return Study.objects.get(owner=owner)


def test_sex_and_age_reach_the_radiologists_header(
    tmp_path: Path, patient: Any, radiologist: Any, login: Any
) -> None:
    study = import_one(tmp_path, patient, PatientSex="F", PatientAge="054Y")
    assert (study.patient_sex, study.patient_age) == ("F", "054Y")
    case = make_request(patient, [study], status="in_review", assigned_to=radiologist)
    page = login(radiologist).get(f"/requests/{case.pk}/report/").content.decode()
    assert 'data-testid="patient-characteristics">female, 54 years<' in page


def test_without_the_option_nothing_is_kept(
    tmp_path: Path,
    patient: Any,
    radiologist: Any,
    login: Any,
    settings: Any,
    request: pytest.FixtureRequest,
) -> None:
    from uploads.intake import keys

    settings.DEID_OPTIONS = [o for o in settings.DEID_OPTIONS
                             if o != "retain_patient_characteristics"]  # fmt: skip
    keys.deid_options.cache_clear()  # read once per process
    request.addfinalizer(keys.deid_options.cache_clear)
    study = import_one(tmp_path, patient, PatientSex="F", PatientAge="054Y")
    assert (study.patient_sex, study.patient_age) == ("", "")
    case = make_request(patient, [study], status="in_review", assigned_to=radiologist)
    page = login(radiologist).get(f"/requests/{case.pk}/report/").content.decode()
    assert "sex and age not recorded" in page


def test_malformed_values_are_not_indexed(tmp_path: Path, patient: Any) -> None:
    study = import_one(tmp_path, patient, PatientSex="FEMALE", PatientAge="54 years")
    assert (study.patient_sex, study.patient_age) == ("", "")
