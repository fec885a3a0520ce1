"""Orthanc with its DICOMweb plugin (Debian ``orthanc``, ``orthanc-dicomweb``) as a peer:
started on free loopback ports with a config and storage folder of its own
(../shared/notes/peers.md). ``RemoteAccessAllowed: false``: its HTTP API refuses
non-local peers, and the tests talk to it over 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PLUGINS = Path("/usr/share/orthanc/plugins")
DICOMWEB_PLUGIN = PLUGINS / "libOrthancDicomWeb.so"
GDCM_PLUGIN = PLUGINS / "libOrthancGdcm.so"


def binary() -> str | None:
    if Path("/usr/sbin/Orthanc").exists():
        return "/usr/sbin/Orthanc"
    return shutil.which("Orthanc")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def orthanc(folder: Path) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:PORT``) of a fresh Orthanc."""
    program = binary()
    assert program is not None
    port = free_port()
    plugins = [str(DICOMWEB_PLUGIN)] + ([str(GDCM_PLUGIN)] if GDCM_PLUGIN.exists() else [])
    config = {
        "Name": "test-pacs",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "HttpPort": port,
        "DicomPort": free_port(),
        "DicomAet": "TESTPACS",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": plugins,
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    log = (folder / "orthanc.log").open("wb")
    proc = subprocess.Popen(
        [program, str(folder / "config.json")],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/system", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "Orthanc did not start: " + (folder / "orthanc.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def store(url: str, data: bytes) -> None:
    request = urllib.request.Request(f"{url}/instances", data=data, method="POST")
    answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
    assert answer.get("Status") in {"Success", "AlreadyStored"}, answer
