"""Orthanc as a peer of the tests (../shared/notes/peers.md): Debian's
``/usr/sbin/Orthanc`` with a config of our own in a temp folder, free ports, loaded over
its HTTP API (``POST /instances``). The PACS of ``tests/pacs`` (a node for the portal's AE
title) and the DICOMweb conformance peer of ``tests/dicomweb`` (its DICOMweb plugin).

Orthanc 1.10.1 listens on all interfaces (it cannot bind one address). So the test PACS
answers no one but the portal: HTTP refuses non-local peers (``RemoteAccessAllowed``
false), and over DICOM only the portal's AE title from 127.0.0.1 may do anything (no
"always allow" for echo, store, find, get or move; the host of a known node is checked).
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ORTHANC = Path("/usr/sbin/Orthanc")
PLUGINS = Path("/usr/share/orthanc/plugins")
DICOMWEB_PLUGIN = PLUGINS / "libOrthancDicomWeb.so"
GDCM_PLUGIN = PLUGINS / "libOrthancGdcm.so"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def installed() -> bool:
    return ORTHANC.exists()


@dataclass
class Orthanc:
    http_port: int
    dicom_port: int
    ae_title: str
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
        try:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if response.status >= 400:
            raise RuntimeError(f"Orthanc {method} {path}: {response.status} {data[:200]!r}")
        return json.loads(data) if data else None

    def store(self, data: bytes) -> None:
        answer = self.request("POST", "/instances", data)
        assert answer["Status"] in {"Success", "AlreadyStored"}, answer


def _up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/system")
        return conn.getresponse().status == 200
    except OSError:
        return False


@contextmanager
def orthanc(
    folder: Path, portal_ae: str = "", ae_title: str = "TESTPACS", *, dicomweb: bool = False
) -> Iterator[Orthanc]:
    """A running Orthanc that knows ``portal_ae`` (from 127.0.0.1) as its only node, with
    its DICOMweb plugin (at ``/dicom-web/``, and GDCM for compressed images) if asked."""
    http_port, dicom_port = free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "test-pacs",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ae_title,
        "DicomCheckCalledAet": True,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomAlwaysAllowFind": False,
        "DicomAlwaysAllowGet": False,
        "DicomAlwaysAllowMove": False,
        "DicomCheckModalityHost": True,
        "DicomModalities": {"portal": [portal_ae, "127.0.0.1", free_port()]} if portal_ae else {},
        "Plugins": [],
    }
    if dicomweb:
        config["Plugins"] = [str(p) for p in (DICOMWEB_PLUGIN, GDCM_PLUGIN) if p.exists()]
        config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/"}
    (folder / "config.json").write_text(json.dumps(config))
    log = folder / "orthanc.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [str(ORTHANC), str(folder / "config.json")], cwd=folder,
            stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _up(http_port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield Orthanc(http_port, dicom_port, ae_title, folder)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
