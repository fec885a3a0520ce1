"""A full disk, simulated in-process: a storage back-end that writes part of a file and
then fails with ENOSPC, as a real full disk does. (tests/hardening/test_faults.py runs the
same through a real worker on a real 4 MB tmpfs when the machine allows mounting one.)

Nothing half-written may stay visible (no partial quarantine part, no partial stored
file, no index rows), and everything completes once space is back.
"""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

import pydicom
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.utils import timezone

from tests.hardening.conftest import Runner
from tests.hardening.corpus import good_file, zip_of
from tests.uploads.conftest import sha
from uploads.intake import ingest, quarantine
from uploads.models import FileStatus, Instance, Series, Study, UploadFile

pytestmark = pytest.mark.django_db


class FullDisk(FileSystemStorage):
    """FileSystemStorage with ``free`` bytes left (None: unlimited). A save that does not
    fit writes what fits, then raises ENOSPC."""

    free: ClassVar[int | None] = None

    def _save(self, name: str, content: Any) -> str:
        if FullDisk.free is not None:
            data = content.read()
            if len(data) > FullDisk.free:
                path = self.path(name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as handle:
                    handle.write(data[: FullDisk.free])
                FullDisk.free = 0
                raise OSError(errno.ENOSPC, "No space left on device")
            FullDisk.free -= len(data)
            content = ContentFile(data)
        return str(super()._save(name, content))


@pytest.fixture
def full_disk(settings: Any) -> Iterator[type[FullDisk]]:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.FullDisk"},
    }
    FullDisk.free = None
    yield FullDisk
    FullDisk.free = None


def stored_files(prefix: str) -> list[str]:
    root = default_storage.path(prefix)
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]


def test_chunk_on_a_full_disk_is_refused_cleanly_and_resumes(
    api: Runner, full_disk: type[FullDisk]
) -> None:
    data = good_file()
    upload = api.create(1)
    api.register(upload, "scan.dcm", data)
    full_disk.free = 1000
    response = api.put(upload, data, 0)
    assert response.status_code == 507, response.content
    assert "full" in response.json()["error"] and response.json()["received"] == 0
    assert response["Retry-After"]
    assert quarantine.is_empty(), "a partly written chunk stayed in quarantine"
    assert UploadFile.objects.get().received == 0

    full_disk.free = None  # space is back: the client's retry goes through
    assert api.put(upload, data, 0).status_code == 200
    assert api.status(upload)["state"] == "done"
    assert Instance.objects.count() == 1 and quarantine.is_empty()


def test_ingest_on_a_full_disk_rolls_back_and_completes_later(
    login: Any, patient: Any, full_disk: type[FullDisk], django_capture_on_commit_callbacks: Any
) -> None:
    from tests.uploads.conftest import UploadClient

    client = UploadClient(login(patient))
    files = [good_file() for _ in range(3)]
    upload = client.create(len(files))
    for i, data in enumerate(files):  # received; their tasks are not run (not committed)
        client.send(upload, f"{i}.dcm", data)
    ids = list(UploadFile.objects.order_by("pk").values_list("pk", flat=True))

    full_disk.free = 3000  # less than one de-identified file
    for file_id in ids:
        with pytest.raises(OSError):  # transient: the task retries with backoff
            ingest.process_file(file_id)
    assert set(UploadFile.objects.values_list("status", flat=True)) == {FileStatus.RECEIVED}
    assert not Study.objects.exists() and not Series.objects.exists()
    assert not Instance.objects.exists()
    assert stored_files("instances") == [], "a half-written file is visible"
    assert all(quarantine.read_all(f) for f in UploadFile.objects.all()), "originals kept"

    full_disk.free = None
    with django_capture_on_commit_callbacks(execute=True):
        for file_id in ids:
            outcome = ingest.process_file(file_id)
            assert outcome is not None and outcome.status == FileStatus.STORED
    assert UploadFile.objects.filter(status=FileStatus.STORED).count() == 3
    for instance in Instance.objects.all():
        with default_storage.open(instance.file, "rb") as handle:
            stored = handle.read()
        assert len(stored) == instance.size
        assert pydicom.dcmread(io.BytesIO(stored)).pixel_array.shape == (64, 64)
    assert quarantine.is_empty()


def test_partial_file_left_by_a_crash_is_replaced(
    login: Any, patient: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A worker killed in the middle of writing leaves a partial stored file and no rows;
    the next delivery must not index that partial file."""
    from tests.uploads.conftest import UploadClient

    client = UploadClient(login(patient))
    data = good_file()
    upload = client.create(1)
    client.send(upload, "a.dcm", data)
    (file_id,) = UploadFile.objects.values_list("pk", flat=True)
    with django_capture_on_commit_callbacks(execute=True):
        ingest.process_file(file_id)
    instance = Instance.objects.get()
    with default_storage.open(instance.file, "rb") as handle:
        whole = handle.read()
    # Replay: the rows are gone (rolled back) and only half the file made it to disk.
    # The file is taken again once the dead run's claim is stale.
    died = timezone.now() - ingest.claim_timeout() - timedelta(seconds=1)
    UploadFile.objects.filter(pk=file_id).update(
        status=FileStatus.RECEIVED, instance=None, updated_at=died
    )
    Study.objects.all().delete()
    default_storage.delete(instance.file)
    default_storage.save(instance.file, ContentFile(whole[: len(whole) // 2]))
    quarantine.save_chunk(UploadFile.objects.get(pk=file_id), 0, data)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = ingest.process_file(file_id)
    assert outcome is not None and outcome.status == FileStatus.STORED
    instance = Instance.objects.get()
    with default_storage.open(instance.file, "rb") as handle:
        assert handle.read() == whole


def test_archive_on_a_full_disk_leaves_no_orphan_parts(
    login: Any, patient: Any, full_disk: type[FullDisk], django_capture_on_commit_callbacks: Any
) -> None:
    from tests.uploads.conftest import UploadClient

    client = UploadClient(login(patient))
    archive = zip_of({f"{i}.dcm": good_file() for i in range(4)})
    upload = client.create(1)
    client.send(upload, "cd.zip", archive)
    (file_id,) = UploadFile.objects.values_list("pk", flat=True)

    full_disk.free = 25000  # two entries fit in quarantine, the third does not
    with pytest.raises(OSError):
        ingest.process_file(file_id)
    assert UploadFile.objects.count() == 1, "child rows survived the rollback"
    # Only the archive's own bytes wait in quarantine: no orphaned child parts.
    assert [p for p in stored_files("quarantine") if f"/{file_id}/" not in p] == []

    full_disk.free = None
    with django_capture_on_commit_callbacks(execute=True):
        pending = [file_id]
        while pending:
            outcome = ingest.process_file(pending.pop())
            assert outcome is not None
            pending.extend(outcome.follow_up)
    assert UploadFile.objects.filter(status=FileStatus.STORED).count() == 4
    assert quarantine.is_empty()
    assert sha(archive) == UploadFile.objects.get(pk=file_id).key
