"""No patient data in logs: every log record (DEBUG and up, every logger, Python warnings
too) emitted while PHI-laden files go through every path, and the log of a real worker.

The uploader's own file names come back to the uploader in rejection messages (allowed)
but must not be logged either: names carry patient names often enough.
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command

from tests.conftest import start_worker
from tests.hardening.conftest import Runner, wait_until
from tests.hardening.corpus import encode, fresh, zip_of
from tests.uploads.conftest import UploadClient
from uploads.models import Instance, Upload

pytestmark = pytest.mark.django_db

MARKERS = {
    "PatientName": "Qzvorlak^Wendeline",
    "PatientID": "PIDQX73315",
    "PatientBirthDate": "19230417",
    "InstitutionName": "Qzvorlak Memorial Clinic",
    "AccessionNumber": "ACCQX99812",
    "ReferringPhysicianName": "Drqx^Hollowmere",
    "OtherPatientIDs": "OPIDQX5521",
    "PatientAddress": "17 Qzvorlak Lane",
}
NAME_MARKER = "Wendeline-Qzvorlak"  # in file names


def needles() -> set[str]:
    found = set()
    for value in [*MARKERS.values(), NAME_MARKER]:
        found.add(value.lower())
        found.update(part.lower() for part in value.replace("^", " ").split() if len(part) > 5)
    found.add("1923-04-17")
    return found


def phi_file(**extra: object) -> bytes:
    ds = fresh("MR_small.dcm", **{**MARKERS, **extra})
    ds.StudyDescription = f"MRI head for {MARKERS['PatientName']}"
    ds.ImageComments = f"patient {MARKERS['PatientID']} born {MARKERS['PatientBirthDate']}"
    return encode(ds)


@cache
def phi_inputs() -> dict[str, bytes]:
    good = phi_file()
    return {
        f"{NAME_MARKER}-1.dcm": good,
        f"{NAME_MARKER}-2.dcm": phi_file(),
        # Invalid values: readers warn about them, and a warning may quote the value.
        f"{NAME_MARKER}-invalid.dcm": phi_file(
            PatientBirthDate="1923-04-17", PatientAge="Qzvorlak"
        ),
        f"{NAME_MARKER}-cut.dcm": good[: len(good) // 2],
        f"{NAME_MARKER}-notes.dcm": (
            f"Patient {MARKERS['PatientName']} id {MARKERS['PatientID']}\n" * 5
        ).encode(),
        f"{NAME_MARKER}.zip": zip_of(
            {f"{NAME_MARKER}/a.dcm": phi_file(), f"../{NAME_MARKER}/b.dcm": phi_file()}
        ),
    }


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return sorted(n for n in needles() if n in lowered)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at DEBUG from every logger, Python warnings included."""
    caplog.set_level(logging.DEBUG)
    detached = []
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if not logger.propagate:  # would bypass caplog's root handler
            logger.addHandler(caplog.handler)
            detached.append(logger)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # no once-per-place suppression
            yield caplog
    finally:
        logging.captureWarnings(False)
        for logger in detached:
            logger.removeHandler(caplog.handler)


def record_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts) + caplog.text


def test_no_phi_in_logs_through_upload_import_and_viewer(
    all_logs: pytest.LogCaptureFixture, api: Runner, login: Any, patient: Any, tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    inputs = phi_inputs()
    extra = phi_file()
    all_logs.clear()  # building the files made pydicom warn about the invalid values
    # The browser path: register + chunks, and the one-request path with Upload-Name.
    upload = api.create(len(inputs) + 1)
    for name, data in inputs.items():
        api.send(upload, name, data)
    with django_capture_on_commit_callbacks(execute=True):
        api.client.client.generic(
            "PUT", f"/api/uploads/{upload}/files/{__import__('hashlib').sha256(extra).hexdigest()}",
            extra, content_type="application/octet-stream",
            headers={"Upload-Offset": "0", "Upload-Length": str(len(extra)),
                     "Upload-Name": quote(f"{NAME_MARKER} ünï.dcm")},
        )  # fmt: skip
    status = api.status(upload)
    assert status["state"] == "done" and status["counts"]["rejected"] >= 3
    # The uploader does see the names of rejected files (their own data).
    assert any(NAME_MARKER in r["name"] for r in status["rejected"])

    # import_dicom from a folder whose path names the patient.
    folder = tmp_path / NAME_MARKER
    folder.mkdir()
    for name, data in phi_inputs().items():
        (folder / name).write_bytes(data)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_dicom", str(folder), "--owner", patient.email, stdout=io.StringIO())

    # The viewer: manifest, slices, attributes (of the de-identified files).
    client = login(patient)
    for instance in Instance.objects.all()[:4]:
        study = instance.series.study_id
        assert client.get(f"/api/studies/{study}/manifest/").status_code == 200
        assert client.get(f"/api/instances/{instance.pk}/slice.png?size=64").status_code == 200
        assert client.get(f"/api/instances/{instance.pk}/attributes/").status_code == 200
    # Bad requests are logged by Django (4xx, with the path): still no names.
    client.get(f"/api/uploads/{upload}/files/{'0' * 64}")
    client.post(f"/api/uploads/{upload}/files/", {"files": [{"name": NAME_MARKER}]},
                content_type="application/json")  # fmt: skip

    assert all_logs.records, "nothing was logged: the capture is not working"
    assert leaks(record_text(all_logs)) == []


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_no_phi_in_the_worker_log(
    require_postgres: None, require_redis: str, transactional_db: None, tmp_path: Path,
    login: Any, patient: Any,
) -> None:  # fmt: skip
    from portal.celery import app

    app.control.purge()
    worker = start_worker(tmp_path / "worker.log", {"LOG_LEVEL": "DEBUG"})
    try:
        wait_until(lambda: bool(app.control.ping(timeout=0.5)), 30, "the worker")
        client = UploadClient(login(patient))
        inputs = phi_inputs()
        upload = client.create(len(inputs))
        for name, data in inputs.items():
            client.send(upload, name, data)
        wait_until(lambda: Upload.objects.get(pk=upload).state == Upload.State.DONE, 60,
                   "the upload")  # fmt: skip
        time.sleep(0.5)  # let the pre-render task log too
    finally:
        worker.stop()
    log = worker.log.read_text()
    assert "uploads.tasks.ingest_upload" in log  # the worker did the work and logged it
    assert leaks(log) == []
