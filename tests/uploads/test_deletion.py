"""Stored files follow their rows: deleting a study (or its owner's account) removes the
study's de-identified files and export ZIPs from storage, except a file another owner's
instance still refers to."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage

from tests.conftest import Storage
from tests.sharing.factories import make_export
from uploads.models import Instance

pytestmark = pytest.mark.django_db


def test_deleting_a_study_removes_its_files_and_exports(
    storage: Storage, imported_study: Any, django_capture_on_commit_callbacks: Any
) -> None:
    files = list(
        Instance.objects.filter(series__study=imported_study).values_list("file", flat=True)
    )
    export = make_export(imported_study)
    assert len(files) == 20 and all(default_storage.exists(name) for name in files)
    assert default_storage.exists(export.file)
    with django_capture_on_commit_callbacks(execute=True):
        imported_study.delete()
    assert not any(default_storage.exists(name) for name in files)
    assert not default_storage.exists(export.file)
    assert storage.names("instances/") == storage.names("exports/") == []


def test_deleting_an_account_removes_its_studies_files(
    imported_study: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    name = Instance.objects.filter(series__study=imported_study).values_list("file", flat=True)[0]
    with django_capture_on_commit_callbacks(execute=True):
        patient.delete()
    assert not default_storage.exists(name)


def test_a_file_another_instance_uses_is_kept(
    imported_study: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first = Instance.objects.filter(series__study=imported_study).first()
    assert first is not None
    # Another owner's copy of the same original, de-identified on the server alone,
    # is stored under the same name.
    other = Instance.objects.filter(series__study=imported_study).exclude(pk=first.pk).first()
    assert other is not None
    Instance.objects.filter(pk=other.pk).update(file=first.file)
    with django_capture_on_commit_callbacks(execute=True):
        first.delete()
    assert default_storage.exists(first.file)  # still used
    with django_capture_on_commit_callbacks(execute=True):
        Instance.objects.get(pk=other.pk).delete()
    assert not default_storage.exists(first.file)


def test_a_deleted_study_no_longer_counts_against_the_quota(
    login: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.uploads.test_ingest_batches import ingest_all, post_batch, variant
    from uploads.intake.quota import recount, used_bytes
    from uploads.models import Study

    client = login(patient)
    upload = client.post(
        "/api/uploads/", {"expected_files": 2}, content_type="application/json"
    ).json()["id"]
    files = [variant(1), variant(2)]
    post_batch(client, upload, files)
    ingest_all(upload)
    stored = sum(Instance.objects.values_list("size", flat=True))
    assert used_bytes(patient.pk) == recount(patient.pk) == stored > sum(map(len, files)) // 2
    with django_capture_on_commit_callbacks(execute=True):
        Study.objects.get(owner=patient).delete()
    assert used_bytes(patient.pk) == 0
