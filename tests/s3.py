"""An S3-compatible server for tests and benchmarks: moto's ``moto_server`` on loopback.

It speaks the real S3 HTTP API, so django-storages' ``S3Storage`` (boto3) talks to it over
HTTP exactly as it talks to AWS S3 or MinIO in production (``STORAGE=s3``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY_ID = "test-key"
SECRET = "test-secret"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class S3Server:
    """A running ``moto_server`` (stop it with :meth:`stop`)."""

    proc: subprocess.Popen[bytes]
    endpoint: str
    log: Path

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
        )  # fmt: skip

    def new_bucket(self, prefix: str = "portal") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in ``bucket`` under ``prefix`` (all pages)."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def storage_options(self, bucket: str) -> dict[str, Any]:
        """``STORAGES["default"]`` as portal/settings.py builds it for ``STORAGE=s3``."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": self.endpoint,
                "region_name": REGION,
                "access_key": KEY_ID,
                "secret_key": SECRET,
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
            },
        }

    def env(self, bucket: str) -> dict[str, str]:
        """The environment that makes a portal process (worker, gunicorn) use ``bucket``."""
        return {
            "STORAGE": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": KEY_ID,
            "S3_SECRET_ACCESS_KEY": SECRET,
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def moto_command() -> list[str]:
    script = Path(sys.executable).parent / "moto_server"
    if script.exists():
        return [str(script)]
    found = shutil.which("moto_server")
    return [found] if found else []


def start_s3(log: Path, timeout: float = 30) -> S3Server:
    """Start ``moto_server -H 127.0.0.1 -p <free port>``; raise if it does not answer."""
    command = moto_command()
    if not command:
        raise FileNotFoundError("moto_server not installed (pip install 'moto[server]')")
    port = free_port()
    handle = log.open("wb")
    proc = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)], stdout=handle, stderr=subprocess.STDOUT
    )
    server = S3Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("moto_server exited:\n" + log.read_text()[-2000:])
        try:
            with urllib.request.urlopen(server.endpoint + "/", timeout=1):
                return server
        except urllib.error.HTTPError:
            return server  # it answers (an S3 error document is an answer)
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"moto_server did not answer in {timeout} s")
