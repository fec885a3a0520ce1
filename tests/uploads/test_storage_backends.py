"""Create-only storage on both back-ends: local disk and S3 (moto_server over HTTP).

The same rules hold on either: a stored object is never replaced, whatever name a write
asks for (``FileSystemStorage`` creates with ``O_EXCL``; ``S3Storage`` runs with
``file_overwrite=False``), and a retried ingest reuses its own complete copy.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.conftest import Storage
from uploads import storage as stored
from uploads.intake import quarantine
from uploads.models import UploadFile

pytestmark = pytest.mark.django_db


def read(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return bytes(handle.read())


def test_the_back_end_is_the_one_asked_for(storage: Storage) -> None:
    name = default_storage.save("probe/a.bin", ContentFile(b"probe"))
    assert storage.names("probe/") == [name]
    kind = type(default_storage._wrapped).__name__
    assert kind == {"local": "FileSystemStorage", "s3": "S3Storage"}[storage.kind]


def test_a_name_clash_never_replaces_bytes(storage: Storage) -> None:
    name = stored.instance_name(7, 42)
    assert stored.store_new(name, b"first copy") == name
    # A plain save under the taken name gets another name; the first object is intact.
    other = default_storage.save(name, ContentFile(b"someone else"))
    assert other != name and other.startswith("instances/7/")
    assert read(name) == b"first copy" and read(other) == b"someone else"
    # store_new at a name holding other bytes (a copy cut short): a new name, old untouched.
    again = stored.store_new(name, b"the full copy")
    assert again not in {name, other}
    assert read(name) == b"first copy" and read(again) == b"the full copy"
    assert storage.names("instances/") == sorted([name, other, again])


def test_a_retried_store_reuses_its_own_complete_copy(storage: Storage) -> None:
    name = stored.instance_name(7, 43)
    assert stored.store_new(name, b"same bytes") == name
    assert stored.store_new(name, b"same bytes") == name
    assert storage.names("instances/") == [name]
    stored.delete_quietly(name)
    stored.delete_quietly(name)  # already gone: no error
    assert storage.names("instances/") == []


def test_quarantine_parts_list_read_and_discard(storage: Storage, patient: Any) -> None:
    from uploads.models import Upload

    upload = Upload.objects.create(owner=patient, expected_files=1)
    file = UploadFile.objects.create(upload=upload, key="k" * 64, size=9)
    quarantine.save_chunk(file, 0, b"abc")
    quarantine.save_chunk(file, 3, b"dXf")
    quarantine.save_chunk(file, 3, b"def")  # a retried chunk replaces its own part
    quarantine.save_chunk(file, 6, b"ghi")
    assert quarantine.read_all(file) == b"abcdefghi"
    assert len(storage.names(file.quarantine_prefix)) == 3
    assert not quarantine.is_empty()
    quarantine.discard(file)
    assert quarantine.is_empty() and storage.names("quarantine/") == []
