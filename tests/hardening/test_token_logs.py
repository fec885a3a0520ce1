"""Secret tokens never reach a log (issue 13, point 6).

Share links (``/s/<token>/``), slice tokens (``?t=…``), and the email links (password
reset, verification, invitation: ``/<kind>/<uid>/<token>/``) are capabilities: the
database keeps only hashes, so a log line with one in clear would be the weakest copy.
Every web process layout the project ships — Procfile (``make stack``), Procfile.dev
(``make run``), docker-compose.yml and the Dockerfile — is started for real on a free
loopback port, sent requests carrying tokens (in the path, the query, a ``next=`` the
login redirect builds, the Referer), and its whole output (access log, Django's loggers)
is read back.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import logging
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.test import Client

from tests.conftest import REPO, worker_database_url
from tests.hardening.conftest import free_port

LAYOUTS = ["Procfile", "Procfile.dev", "docker-compose.yml", "Dockerfile"]


def load_procs() -> Any:
    spec = importlib.util.spec_from_file_location("procs", REPO / "scripts" / "procs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def web_command(layout: str, port: int) -> list[str]:
    """The web process's argv as ``layout`` runs it, bound to 127.0.0.1:``port`` (a
    Procfile's ``$PORTAL_PORT`` is expanded from ``os.environ``, as scripts/procs.py does)."""
    if layout.startswith("Procfile"):
        argv: list[str] = dict(load_procs().parse(REPO / layout))["web"]
        assert f"127.0.0.1:{port}" in argv, argv
        return argv
    if layout == "docker-compose.yml":
        compose = yaml.safe_load((REPO / layout).read_text())
        argv = shlex.split(compose["services"]["web"]["command"])
    else:
        cmd = next(
            line for line in (REPO / layout).read_text().splitlines() if line.startswith("CMD")
        )
        argv = json.loads(cmd.removeprefix("CMD"))
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    argv[0] = str(Path(sys.executable).parent / argv[0])  # the venv's gunicorn
    return argv


def tokens() -> dict[str, str]:
    return {kind: f"{kind}tok{uuid.uuid4().hex}" for kind in
            ("share", "referer", "slice", "reset", "verify", "invite")}  # fmt: skip


def call(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    return response.status, response.getheader("Location") or ""


def send_token_requests(port: int, secret: dict[str, str]) -> None:
    assert call(port, f"/s/{secret['share']}/")[0] == 404
    referer = f"http://127.0.0.1:{port}/s/{secret['referer']}/"
    assert call(port, "/login/", {"Referer": referer})[0] == 200
    status, location = call(port, f"/api/instances/999999/slice.png?size=64&t={secret['slice']}")
    assert status == 302 and "/login/?next=" in location  # the token, encoded, in next=
    assert call(port, location.removeprefix(f"http://127.0.0.1:{port}"))[0] == 200
    assert call(port, f"/password-reset/MQ/{secret['reset']}/")[0] == 200
    assert call(port, f"/verify/MQ/{secret['verify']}/")[0] == 400
    assert call(port, f"/invite/MQ/{secret['invite']}/")[0] == 400


@pytest.fixture
def web_env(
    require_postgres: None, require_redis: str, transactional_db: None, tmp_path: Path
) -> dict[str, str]:
    drop = {"DJANGO_ALLOW_ASYNC_UNSAFE", "CELERY_EAGER"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        DATABASE_URL=worker_database_url(), REDIS_URL=require_redis,
        CACHE_KEY_PREFIX=f"sec-logs-{uuid.uuid4().hex[:8]}",  # its own failure counters
        SECRET_KEY=settings.SECRET_KEY, DATA_DIR=str(tmp_path / "data"), WEB_WORKERS="1",
        LOG_LEVEL="INFO", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    return env


@contextmanager
def serve(argv: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[None]:
    with log.open("wb") as handle:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 40
            while True:
                try:
                    call(port, "/healthz")
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"{argv[:3]} did not start:\n{log.read_text()[-3000:]}")
                    time.sleep(0.3)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.mark.services
@pytest.mark.parametrize("layout", LAYOUTS)
def test_web_process_logs_no_tokens(
    layout: str, web_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("PORTAL_PORT", str(port))
    monkeypatch.setenv("WEB_WORKERS", "1")
    secret = tokens()
    log = tmp_path / "web.log"
    with serve(web_command(layout, port), web_env, log, port):
        send_token_requests(port, secret)
    text = log.read_text()
    # The requests were logged (access log on, Django's loggers on)...
    assert "slice.png" in text and "/password-reset/" in text and "/s/" in text, text[-3000:]
    assert "Not Found" in text or " 404 " in text, text[-3000:]
    # ...without a single token.
    assert [kind for kind, value in secret.items() if value in text] == [], text[-3000:]
    assert "[redacted]" in text


def test_django_request_logger_redacts_tokens(caplog: pytest.LogCaptureFixture, db: None) -> None:
    """Django's own 4xx lines (``Not Found: /s/<token>/``) carry no token, whatever handler
    records them: the filter sits on the logger."""
    secret = tokens()
    client = Client()
    with caplog.at_level(logging.INFO):
        client.get(f"/s/{secret['share']}/")
        client.get(f"/verify/MQ/{secret['verify']}/")
    lines = [record.getMessage() for record in caplog.records if record.name == "django.request"]
    assert len(lines) == 2, lines
    assert all(value not in "\n".join(lines) for value in secret.values()), lines
    assert all("[redacted]" in line for line in lines), lines


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"GET /s/AbC-12_x/ HTTP/1.1" 404', '"GET /s/[redacted]/ HTTP/1.1" 404'),
        ("/s/AbC-12_x", "/s/[redacted]"),
        (
            "/api/instances/7/slice.png?size=64&t=3.17.ab.Zz-_",
            "/api/instances/7/slice.png?size=64&t=[redacted]",
        ),
        (
            "/api/instances/7/slice.png?t=3.17.ab.Zz&size=64",
            "/api/instances/7/slice.png?t=[redacted]&size=64",
        ),
        (
            "/login/?next=/api/instances/7/slice.png%3Fsize%3D64%26t%3D3.17.ab.Zz",
            "/login/?next=/api/instances/7/slice.png%3Fsize%3D64%26t%3D[redacted]",
        ),
        ("/login/?next=%2Fs%2FAbC-12_x%2F", "/login/?next=%2Fs%2F[redacted]%2F"),
        ("/password-reset/MQ/c3x-0a1b2c/", "/password-reset/MQ/[redacted]/"),
        ("/verify/MQ/c3x-0a1b2c/", "/verify/MQ/[redacted]/"),
        ("/invite/Mg/c3x-0a1b2c/", "/invite/Mg/[redacted]/"),
        (
            "/oidc/callback/?code=Zx-1_q.w&state=s7Kd&iss=http%3A%2F%2Fidp",
            "/oidc/callback/?code=[redacted]&state=[redacted]&iss=http%3A%2F%2Fidp",
        ),
        # Not secrets: left alone.
        ("/oidc/callback/?session_state=1&iss=x", "/oidc/callback/?session_state=1&iss=x"),
        ("/studies/12/viewer/?series=3", "/studies/12/viewer/?series=3"),
        ("/password-reset/sent/", "/password-reset/sent/"),
        ("/static/sharing/sharing.js", "/static/sharing/sharing.js"),
        ("/api/instances/7/slice.png?tt=1&size=2", "/api/instances/7/slice.png?tt=1&size=2"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    from portal.redact import redact

    assert redact(line) == expected
