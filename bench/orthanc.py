"""Start a throw-away Orthanc (Debian ``orthanc``) on a free loopback port, for benchmarks.

Orthanc 1.10.1 listens on all interfaces; ``RemoteAccessAllowed: false`` makes its HTTP
server refuse other hosts (see ../shared/notes/peers.md). The DICOM port is another free
port; storage lives in a temporary folder removed on exit.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BINARY = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
GDCM = ["/usr/share/orthanc/plugins/libOrthancGdcm.so"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def orthanc() -> Iterator[str]:
    """Yield the base URL of a fresh Orthanc; stop it (and delete its data) afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-orthanc-") as tmp:
        http = _free_port()
        config = {
            "Name": "bench",
            "StorageDirectory": f"{tmp}/db",
            "IndexDirectory": f"{tmp}/db",
            "HttpPort": http,
            "DicomPort": _free_port(),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [p for p in GDCM if Path(p).exists()],  # JPEG 2000 decoding
        }
        Path(tmp, "config.json").write_text(json.dumps(config))
        proc = subprocess.Popen(
            [BINARY, f"{tmp}/config.json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{http}"
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{url}/system", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                raise RuntimeError("Orthanc did not start")
            yield url
        finally:
            proc.terminate()
            proc.wait(10)


def upload(url: str, data: bytes) -> str:
    """Store one DICOM file; return its Orthanc instance id."""
    request = urllib.request.Request(f"{url}/instances", data=data, method="POST")
    return str(json.loads(urllib.request.urlopen(request).read())["ID"])


def available() -> bool:
    return Path(BINARY).exists()
