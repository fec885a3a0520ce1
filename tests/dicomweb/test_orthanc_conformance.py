"""Conformance: the portal and Orthanc's DICOMweb plugin, loaded with the SAME stored
(de-identified) files, give the same answers to the common QIDO-RS queries through
dicomweb-client: the same UIDs, and the same values of the standard returned attributes.

Skipped when Orthanc is not installed (``.ci/run`` installs it: orthanc, orthanc-dicomweb).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dicomweb_client.api import DICOMwebClient
from django.core.files.storage import default_storage

from tests import orthanc
from tests.conftest import missing
from tests.dicomweb.conftest import new_token
from uploads.models import Instance

pytestmark = pytest.mark.django_db(transaction=True)

STUDY = [
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyID",
    "ReferringPhysicianName",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
]
SERIES = [
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
]
INSTANCE = ["SOPInstanceUID", "SOPClassUID", "InstanceNumber", "Rows", "Columns"]


def value(result: dict[str, Any], keyword: str) -> Any:
    from dicomweb.attributes import tag_of

    item = result.get(tag_of(keyword)) or {}
    values = item.get("Value") or []
    values = [v.get("Alphabetic", "") if isinstance(v, dict) else v for v in values]
    values = [
        str(v) if not isinstance(v, int | float) else int(v) if v == int(v) else v
        for v in values
        if v not in ("", None)
    ]
    return sorted(values) if keyword == "ModalitiesInStudy" else values


def by_uid(results: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {value(r, key)[0]: r for r in results}


COMPARED: set[str] = set()  # attributes that had a value on both sides


def same(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]], key: str, keywords: list[str]
) -> int:
    mine, peer = by_uid(ours, key), by_uid(theirs, key)
    assert sorted(mine) == sorted(peer)
    for uid in mine:
        for keyword in keywords:
            assert value(mine[uid], keyword) == value(peer[uid], keyword), (keyword, uid)
            if value(mine[uid], keyword):
                COMPARED.add(keyword)
    return len(mine)


@pytest.fixture
def peer(tmp_path: Path) -> Any:
    if not orthanc.installed() or not orthanc.DICOMWEB_PLUGIN.exists():
        missing("Orthanc with its DICOMweb plugin is not installed (orthanc, orthanc-dicomweb)")
    with orthanc.orthanc(tmp_path / "orthanc", dicomweb=True) as server:
        yield server


def test_portal_and_orthanc_answer_qido_alike(
    live_server: Any, patient: Any, patient_studies: Any, peer: orthanc.Orthanc
) -> None:
    for instance in Instance.objects.filter(series__study__owner=patient):
        with default_storage.open(instance.file, "rb") as handle:
            peer.store(handle.read())  # the same stored, de-identified bytes
    portal = DICOMwebClient(
        url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Bearer {new_token(patient)}"}
    )
    pacs = DICOMwebClient(url=f"{peer.url}/dicom-web")
    fields = STUDY + SERIES + INSTANCE

    def both(method: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return (
            getattr(portal, method)(*args, fields=fields, **kwargs),
            getattr(pacs, method)(*args, fields=fields, **kwargs),
        )

    study = patient_studies.get(modalities="CT")
    date = study.study_date.strftime("%Y%m%d")
    filters: list[dict[str, str]] = [
        {"ModalitiesInStudy": "MR"},
        {"StudyDate": f"{date}-{date}"},
        {"StudyDate": f"-{date}"},
        {"PatientID": study.patient_pseudonym},
        {"StudyInstanceUID": study.study_instance_uid},
    ]
    try:
        compare(both, filters, patient_studies)
    finally:
        portal._session.close()  # its keep-alive connection holds a database connection
        pacs._session.close()


def compare(
    both: Callable[..., tuple[Any, Any]], filters: list[dict[str, str]], patient_studies: Any
) -> None:
    assert same(*both("search_for_studies"), "StudyInstanceUID", STUDY) == 3
    for search_filters in filters:
        ours, theirs = both("search_for_studies", search_filters=search_filters)
        assert ours, search_filters
        same(ours, theirs, "StudyInstanceUID", STUDY)
    assert (
        same(
            *both("search_for_series", search_filters={"Modality": "MR"}),
            "SeriesInstanceUID",
            SERIES,
        )
        == 2
    )
    for each in patient_studies:
        uid = each.study_instance_uid
        same(*both("search_for_series", uid), "SeriesInstanceUID", SERIES)
        for series in each.series.all():
            same(
                *both("search_for_instances", uid, series.series_instance_uid),
                "SOPInstanceUID",
                INSTANCE,
            )
    # The comparison had something to compare: these had values on both sides.
    assert {
        "StudyDate",
        "PatientID",
        "PatientName",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
        "Modality",
        "SeriesNumber",
        "NumberOfSeriesRelatedInstances",
        "SOPClassUID",
        "InstanceNumber",
        "Rows",
        "Columns",
    } <= COMPARED, COMPARED
