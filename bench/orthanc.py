"""Orthanc as a peer to compare with, started by the bench: ``/usr/sbin/Orthanc`` with a
config of our own in a temp folder, free HTTP/DICOM ports, ``RemoteAccessAllowed`` false,
no authentication, only the GDCM plugin (JPEG 2000) when installed. Absent Orthanc,
:func:`orthanc` yields None and the benchmarks leave its column empty.

Orthanc 1.10.1 listens on all interfaces (it cannot bind one address); with
``RemoteAccessAllowed: false`` its HTTP API refuses non-local peers, and the bench talks to
it over 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.stackutil import BenchError, free_port, stop, wait_until

ORTHANC = os.environ.get("BENCH_ORTHANC", "/usr/sbin/Orthanc")
# JPEG 2000 needs the GDCM plugin (Debian package orthanc-gdcm); loaded when installed.
GDCM_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancGdcm.so")
TICK = os.sysconf("SC_CLK_TCK")


def installed() -> bool:
    return Path(ORTHANC).exists()


class Orthanc:
    """One keep-alive HTTP connection per instance of this class (use one per thread)."""

    def __init__(self, port: int, pid: int) -> None:
        self.port = port
        self.pid = pid
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def connection(self) -> Orthanc:
        return Orthanc(self.port, self.pid)

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        try:
            self.conn.request(method, path, body=body)
            response = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # Orthanc closed the idle keep-alive connection: once more on a new one.
            self.conn.close()
            self.conn.request(method, path, body=body)
            response = self.conn.getresponse()
        data = response.read()
        if response.status >= 400:
            raise BenchError(f"Orthanc {method} {path}: {response.status} {data[:200]!r}")
        return data

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        return json.loads(self.request(method, path, body))

    def store(self, data: bytes) -> dict[str, Any]:
        """POST /instances: {"ID", "ParentStudy", "Status", ...}."""
        answer: dict[str, Any] = json.loads(self.request("POST", "/instances", data))
        if answer.get("Status") not in {"Success", "AlreadyStored"}:
            raise BenchError(f"Orthanc did not store the file: {answer}")
        return answer

    def anonymize(self, study: str) -> str:
        """POST /studies/{id}/anonymize (synchronous): the new study's id."""
        return str(self.json("POST", f"/studies/{study}/anonymize", {})["ID"])

    def rendered(self, instance: str, query: str = "") -> bytes:
        return self.request("GET", f"/instances/{instance}/rendered{query}")

    def delete_all(self) -> None:
        for study in self.json("GET", "/studies"):
            self.request("DELETE", f"/studies/{study}")

    def cpu_seconds(self) -> float:
        """User + system CPU the Orthanc process has used so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK


def _up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/system")
        return conn.getresponse().status == 200
    except OSError:
        return False


@contextmanager
def orthanc() -> Iterator[Orthanc | None]:
    """A running Orthanc of the bench's own, or None (with a message) when not installed."""
    if not installed():
        print(f"Orthanc not installed ({ORTHANC}): its column stays empty")
        yield None
        return

    folder = Path(tempfile.mkdtemp(prefix="bench-orthanc-"))
    try:
        port = free_port()
        config = {
            "Name": "bench-orthanc",
            "StorageDirectory": str(folder / "db"),
            "IndexDirectory": str(folder / "db"),
            "HttpPort": port,
            "DicomPort": free_port(),
            "DicomAet": "BENCHPACS",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [str(GDCM_PLUGIN)] if GDCM_PLUGIN.exists() else [],
        }
        (folder / "config.json").write_text(json.dumps(config))
        log = folder / "orthanc.log"
        with log.open("wb") as handle:
            proc = subprocess.Popen([ORTHANC, str(folder / "config.json")], cwd=folder,
                                    stdout=handle, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_until(lambda: _up(port), 60, "Orthanc", proc=proc, log=log)
            version = json.loads(Orthanc(port, proc.pid).request("GET", "/system"))["Version"]
            print(f"Orthanc {version} on 127.0.0.1:{port} (pid {proc.pid})")
            yield Orthanc(port, proc.pid)
        finally:
            stop(proc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
