"""The process layouts run natively: `make run` (Procfile.dev, embedded) and `make stack`
(Procfile: gunicorn + celery worker + beat on PostgreSQL/Redis)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LOAD_GROUP, REPO, worker_database_url

pytestmark = [pytest.mark.services, LOAD_GROUP]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@contextmanager
def procfile(name: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "scripts/procs.py", name], cwd=REPO, env=env,
            stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_http(url: str, log: Path, timeout: float = 40) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bytes(response.read())
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer:\n{log.read_text()[-4000:]}")


def ping_through(env: dict[str, str], log: Path) -> None:
    token = uuid.uuid4().hex
    manage(env, "shell", "--no-imports", "-c",
           f"from portal.accounts.tasks import ping; ping.delay('{token}')")  # fmt: skip
    check = (
        "from portal.audit.models import AuditEvent;"
        f"print(AuditEvent.objects.filter(action='worker.ping', object_id='{token}').count())"
    )
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if manage(env, "shell", "--no-imports", "-c", check).strip() == "1":
            return
        time.sleep(0.5)
    pytest.fail("the worker did not run the task:\n" + log.read_text()[-4000:])


def upload_through(env: dict[str, str], log: Path) -> None:
    """A patient sends three files in one batch request, as the upload page does; the
    worker of this layout stores and indexes them and the upload ends "done"."""
    import hashlib
    import http.client
    import io
    import json

    import pydicom
    from pydicom.data import get_testdata_file

    code = (
        "from django.contrib.sessions.backends.db import SessionStore;"
        "from portal.accounts.models import User;"
        "u=User.objects.create_user('stack@example.org','stack-pass-123',role='patient',"
        "email_verified=True);s=SessionStore();s['_auth_user_id']=str(u.pk);"
        "s['_auth_user_backend']='django.contrib.auth.backends.ModelBackend';"
        "s['_auth_user_hash']=u.get_session_auth_hash();s.create();print(s.session_key)"
    )
    session = manage(env, "shell", "--no-imports", "-c", code).split()[-1]
    csrf = uuid.uuid4().hex
    port = int(env["PORTAL_PORT"])
    headers = {"Cookie": f"sessionid={session}; csrftoken={csrf}", "X-CSRFToken": csrf,
               "Referer": f"http://127.0.0.1:{port}/"}  # fmt: skip

    def call(method: str, path: str, body: bytes, extra: dict[str, str]) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(method, path, body=body, headers={**headers, **extra})
        response = conn.getresponse()
        data = response.read()
        assert response.status < 300, (response.status, data[:300])
        return json.loads(data)

    files = []
    for n in range(3):
        ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{n}"
        out = io.BytesIO()
        ds.save_as(out)
        files.append(out.getvalue())
    upload = call("POST", "/api/uploads/", json.dumps({"expected_files": 3}).encode(),
                  {"Content-Type": "application/json"})["id"]  # fmt: skip
    batch = ",".join(f"{hashlib.sha256(d).hexdigest()}:{len(d)}" for d in files)
    call("POST", f"/api/uploads/{upload}/batch/", b"".join(files),
         {"Upload-Batch": batch, "Content-Type": "application/octet-stream"})  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = call("GET", f"/api/uploads/{upload}/?files=0", b"", {})
        if state["state"] == "done":
            assert state["counts"]["done"] == 3, state
            return
        time.sleep(0.5)
    pytest.fail("the upload was not ingested:\n" + log.read_text()[-4000:])


def push_through(env: dict[str, str], log: Path) -> None:
    """A PACS push (dcmtk's storescu) to the DICOM receiver ends as a stored instance."""
    storescu = shutil.which("storescu")
    if storescu is None:
        return  # dcmtk missing (.ci/run installs it): the receiver's own tests skip too
    from pydicom.data import get_testdata_file

    from uploads.models import Instance

    port = int(env["DICOM_PORT"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            time.sleep(0.3)
    before = Instance.objects.filter(series__study__owner__email="admin@example.org").count()
    sent = subprocess.run(
        [storescu, "-aet", "PACS", "-aec", "PORTAL", "127.0.0.1", str(port),
         str(get_testdata_file("CT_small.dcm"))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr + log.read_text()[-3000:]
    while time.monotonic() < deadline + 30:
        stored = Instance.objects.filter(series__study__owner__email="admin@example.org")
        if stored.count() > before:
            return
        time.sleep(0.3)
    pytest.fail(f"the pushed instance was not stored:\n{log.read_text()[-4000:]}")


def base_env(tmp_path: Path) -> dict[str, str]:
    drop = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "CELERY_EAGER"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DATA_DIR=str(tmp_path / "data"), PORTAL_PORT=str(free_port()))
    return env


def test_embedded_run_serves_and_works_off_the_request_path(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    manage(env, "migrate", "--noinput")
    out = manage(env, "seed_demo")
    assert out.count("created") == 3
    log = tmp_path / "run.log"
    with procfile("Procfile.dev", env, log):
        page = wait_http(f"http://127.0.0.1:{env['PORTAL_PORT']}/login/", log)
        assert b'data-testid="login-email"' in page
        ping_through(env, log)
        upload_through(env, log)  # SQLite, the file broker and the file cache
        deadline = time.monotonic() + 20  # the watchdog's schedule runs here too (issue 14)
        while "beat: Starting" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.3)
    assert "celery@" in log.read_text()
    assert "beat: Starting" in log.read_text()


def test_stack_gunicorn_worker_beat(
    tmp_path: Path, require_postgres: None, require_redis: str, transactional_db: Any
) -> None:
    env = base_env(tmp_path)
    env.update(DATABASE_URL=worker_database_url(), REDIS_URL=require_redis, WEB_WORKERS="2")
    env.update(DICOM_PORT=str(free_port()), DICOM_BIND="127.0.0.1")
    manage(env, "seed_demo")  # as `make stack` does: the DICOM receiver's owner
    log = tmp_path / "stack.log"
    with procfile("Procfile", env, log):
        health = wait_http(f"http://127.0.0.1:{env['PORTAL_PORT']}/healthz", log)
        assert b'"ok": true' in health
        ping_through(env, log)
        upload_through(env, log)
        push_through(env, log)
        deadline = time.monotonic() + 20
        while "beat: Starting" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.3)
    text = log.read_text()
    assert "Booting worker" in text  # gunicorn
    assert "beat: Starting" in text
