"""A real PACS for the tests: Orthanc (Debian ``orthanc``) on free loopback ports, loaded
over HTTP with real DICOM (pydicom's test files) made into several patients and dates."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from tests.conftest import missing
from tests.orthanc import Orthanc, installed, orthanc


@dataclass(frozen=True)
class PacsStudy:
    patient_id: str
    patient_name: str
    date: str  # YYYYMMDD
    modality: str
    study_uid: str


#: (Patient ID, name, study date, source file). Unusual values, so that a grep for them
#: finds nothing but them.
PLAN = [
    ("PACSPAT-ALPHA-7731", "Alphason^Ada", "20240110", "CT_small.dcm"),
    ("PACSPAT-ALPHA-7731", "Alphason^Ada", "20240520", "MR_small.dcm"),
    ("PACSPAT-ALPHA-7731", "Alphason^Ada", "20230101", "CT_small.dcm"),  # before the range
    ("PACSPAT-BRAVO-8842", "Bravoski^Bea", "20240215", "CT_small.dcm"),
    ("PACSPAT-CHARLIE-9953", "Charlesworth^Cy", "20240301", "CT_small.dcm"),  # not listed
    ("PACSPAT-BRAVO-8842", "Bravoski^Bea", "20250102", "MR_small.dcm"),  # after the range
]
INSTANCES_PER_STUDY = 2


def make_study(patient_id: str, name: str, date: str, source: str) -> tuple[PacsStudy, list[bytes]]:
    """A study of real pixels from ``source``: new patient, date and UIDs."""
    study_uid, series_uid = generate_uid(), generate_uid()
    files = []
    for number in range(1, INSTANCES_PER_STUDY + 1):
        ds = pydicom.dcmread(str(get_testdata_file(source)))
        ds.PatientID = patient_id
        ds.PatientName = name
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = number
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files.append(buffer.getvalue())
    return PacsStudy(patient_id, name, date, str(ds.Modality), study_uid), files


@dataclass
class LoadedPacs:
    server: Orthanc
    studies: list[PacsStudy]

    @property
    def address(self) -> str:
        return f"{self.server.ae_title}@127.0.0.1:{self.server.dicom_port}"


@pytest.fixture(scope="session")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedPacs]:
    """Orthanc as the PACS, knowing the portal's calling AE title (``PORTAL``)."""
    if not installed():
        missing("Orthanc (Debian orthanc) is not installed")
    with orthanc(tmp_path_factory.mktemp("orthanc"), "PORTAL") as server:
        studies = []
        for patient_id, name, date, source in PLAN:
            study, files = make_study(patient_id, name, date, source)
            for data in files:
                server.store(data)
            studies.append(study)
        yield LoadedPacs(server, studies)


def secrets_of(pacs: LoadedPacs) -> list[bytes]:
    """Every original identifier the portal must not keep."""
    values = set()
    for study in pacs.studies:
        values |= {study.patient_id, study.study_uid, *study.patient_name.split("^")}
    return sorted(value.encode() for value in values)


def files_under(folder: Path) -> Iterator[Path]:
    return (path for path in folder.rglob("*") if path.is_file())
