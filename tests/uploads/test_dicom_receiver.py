"""The DICOM receiver (uploads/intake/receiver.py): a PACS pushes with C-STORE, the portal
ingests like an upload. Sent with dcmtk's real ``storescu`` / ``echoscu`` and with
pynetdicom's SCU, over a real TCP connection to the SCP running in this process."""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.files.storage import default_storage
from django.db import DatabaseError
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, MRImageStorage

from uploads.intake import quarantine
from uploads.intake import receiver as dicom_node
from uploads.models import FileStatus, Instance, Study, Upload

pytestmark = pytest.mark.django_db(transaction=True)  # the SCP's threads commit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def scp(require_postgres: None, patient: Any, settings: Any) -> Iterator[int]:
    """The receiver on a free local port, for ``patient``; yields the port."""
    settings.DICOM_BIND = "127.0.0.1"
    settings.DICOM_PEERS = [f"PACS@127.0.0.1={patient.email}"]
    port = free_port()
    server = dicom_node.serve(port, block=False)
    try:
        yield port
    finally:
        server.shutdown()
        deadline = time.monotonic() + 10  # let association threads close their connections
        while server.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)


def dcmtk(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} (Debian dcmtk) is not installed")
    return path


def wait_done(count: int = 1, timeout: float = 60) -> list[Upload]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        uploads = list(Upload.objects.filter(state=Upload.State.DONE))
        if len(uploads) >= count:
            return uploads
        time.sleep(0.2)
    pytest.fail("the pushed study was not ingested")


def test_a_pacs_push_is_ingested_like_an_upload(
    scp: int, patient: Any, mr_series: list[Path]
) -> None:
    ct = str(get_testdata_file("CT_small.dcm"))
    sent = subprocess.run(
        [dcmtk("storescu"), "-aet", "PACS", "-aec", "PORTAL", "127.0.0.1", str(scp),
         *map(str, mr_series), ct],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    (upload,) = wait_done()
    assert upload.owner == patient and upload.expected_files == 21
    assert set(upload.files.values_list("status", flat=True)) == {FileStatus.STORED}
    assert Study.objects.filter(owner=patient).count() == 2  # the MR series and the CT
    assert Instance.objects.count() == 21
    original = pydicom.dcmread(mr_series[0], stop_before_pixels=True)
    stored = Instance.objects.filter(series__modality="MR").first()
    assert stored is not None
    with default_storage.open(stored.file, "rb") as handle:
        clean = pydicom.dcmread(io.BytesIO(handle.read()), stop_before_pixels=True)
    assert clean.PatientIdentityRemoved == "YES"
    assert clean.StudyInstanceUID != original.StudyInstanceUID
    assert str(clean.PatientName) != str(original.PatientName)
    assert quarantine.is_empty()
    # The same series again, in a new association: kept once (duplicates).
    again = subprocess.run(
        [dcmtk("storescu"), "-aet", "PACS", "-aec", "PORTAL", "127.0.0.1", str(scp),
         *map(str, mr_series)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0
    second = next(u for u in wait_done(2) if u.pk != upload.pk)
    assert set(second.files.values_list("status", flat=True)) == {FileStatus.DUPLICATE}
    assert Instance.objects.count() == 21


def test_echo_and_only_allowed_senders(scp: int) -> None:
    echo = [dcmtk("echoscu"), "-aec", "PORTAL", "127.0.0.1", str(scp)]
    assert (
        subprocess.run([*echo[:1], "-aet", "PACS", *echo[1:]], capture_output=True).returncode == 0
    )
    refused = subprocess.run([*echo[:1], "-aet", "STRANGER", *echo[1:]], capture_output=True)
    assert refused.returncode != 0 and b"Association Rejected" in refused.stderr
    ct = str(get_testdata_file("CT_small.dcm"))
    store = [dcmtk("storescu"), "-aet", "STRANGER", "-aec", "PORTAL", "127.0.0.1", str(scp), ct]
    assert subprocess.run(store, capture_output=True).returncode != 0
    assert not Upload.objects.exists()


def send(port: int, *datasets: pydicom.Dataset) -> list[int]:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="PORTAL")
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def test_out_of_resources_when_an_instance_cannot_be_kept(
    scp: int, monkeypatch: Any, settings: Any
) -> None:
    """Database or storage down: 0xA700, so the sender retries; nothing half-kept."""
    ct = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))

    def down(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("connection lost")

    monkeypatch.setattr(dicom_node, "receive_whole", down)
    assert send(scp, ct) == [dicom_node.OUT_OF_RESOURCES]
    monkeypatch.undo()
    deadline = time.monotonic() + 10  # the association kept nothing: no empty upload
    while Upload.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Upload.objects.exists()
    settings.UPLOAD_MAX_FILES = 1  # one instance per association at most
    mr = pydicom.dcmread(str(get_testdata_file("MR_small.dcm")))
    assert send(scp, ct, mr) == [dicom_node.SUCCESS, dicom_node.OUT_OF_RESOURCES]
    upload = wait_done()[-1]
    assert upload.expected_files == 1 and Instance.objects.count() == 1


def test_uploads_left_open_by_a_killed_receiver_are_closed_at_start(
    require_postgres: None, patient: Any, settings: Any
) -> None:
    from uploads.models import UploadFile

    left = Upload.objects.create(owner=patient, expected_files=settings.UPLOAD_MAX_FILES)
    UploadFile.objects.create(upload=left, key="a" * 64, size=1, status=FileStatus.REJECTED,
                              name=f"{dicom_node.NAME_PREFIX}PACS #1")  # fmt: skip
    browser = Upload.objects.create(owner=patient, expected_files=settings.UPLOAD_MAX_FILES)
    assert dicom_node.recover([patient.pk]) == 1
    left.refresh_from_db()
    assert (left.state, left.expected_files) == (Upload.State.DONE, 1)
    assert Upload.objects.get(pk=browser.pk).state == Upload.State.OPEN  # not the receiver's


# -- who may send, and for whom (issue 13, point 11) ----------------------------------------


def storescu(port: int, calling: str, called: str = "PORTAL") -> subprocess.CompletedProcess:
    ct = str(get_testdata_file("CT_small.dcm"))
    return subprocess.run(
        [dcmtk("storescu"), "-aet", calling, "-aec", called, "127.0.0.1", str(port), ct],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def receiver(require_postgres: None, settings: Any) -> Iterator[Any]:
    """Starts the receiver with the given peers; yields a function that returns its port."""
    servers = []
    settings.DICOM_BIND = "127.0.0.1"

    def start(peers: list[str], owner_id: int | None = None) -> int:
        settings.DICOM_PEERS = peers
        port = free_port()
        servers.append(dicom_node.serve(port, owner_id, block=False))
        return port

    yield start
    for server in servers:
        server.shutdown()


def test_the_called_ae_title_must_be_ours(scp: int) -> None:
    refused = storescu(scp, "PACS", called="SOMEONE")
    assert refused.returncode != 0 and "Association Rejected" in refused.stderr
    time.sleep(0.5)
    assert not Upload.objects.exists()


def test_a_registered_title_from_another_address_is_refused(receiver: Any, patient: Any) -> None:
    """Calling AE titles are free text: the address must match the registered peer."""
    port = receiver([f"PACS@10.9.9.9={patient.email}"])
    assert storescu(port, "PACS").returncode != 0
    time.sleep(0.5)
    assert not Upload.objects.exists()


def test_each_peer_pushes_into_its_own_account(
    receiver: Any, patient: Any, admin_user: Any, mr_series: list[Path]
) -> None:
    port = receiver([f"WARD@127.0.0.1={patient.email}", f"LAB@localhost={admin_user.email}"])
    assert storescu(port, "WARD").returncode == 0
    sent = subprocess.run(
        [dcmtk("storescu"), "-aet", "LAB", "-aec", "PORTAL", "127.0.0.1", str(port),
         *map(str, mr_series)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    wait_done(2)
    assert set(Study.objects.filter(owner=patient).values_list("modalities", flat=True)) == {"CT"}
    assert set(Study.objects.filter(owner=admin_user).values_list("modalities", flat=True)) == {
        "MR"
    }


def test_loopback_by_default_and_never_open_to_the_network(
    receiver: Any, patient: Any, settings: Any
) -> None:
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_")}
    shown = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DICOM_BIND)"],
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"}, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert shown.stdout.strip() == "127.0.0.1"
    from django.core.exceptions import ImproperlyConfigured

    settings.DICOM_BIND = "0.0.0.0"
    settings.DICOM_PEERS = []
    with pytest.raises(ImproperlyConfigured, match="DICOM_PEERS"):
        dicom_node.serve(free_port(), patient.pk, block=False)
    # Without peers on loopback: anyone on this machine, for the one account given.
    settings.DICOM_BIND = "127.0.0.1"
    port = receiver([], patient.pk)
    assert storescu(port, "ANYONE").returncode == 0
    (upload,) = wait_done()
    assert upload.owner == patient
