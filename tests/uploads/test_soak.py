"""Soak test (issue 14): every upload ends, on the embedded default and in production.

At least 50 uploads of mixed content go through the HTTP API, as the upload page sends
them, from several accounts at once, against

(a) the ``make run`` processes (Procfile.dev: runserver, Celery workers on the
    file-system broker, beat) on SQLite, and
(b) the ``make stack`` processes (Procfile: gunicorn, Celery workers, beat) on
    PostgreSQL and Redis,

while worker processes are killed (SIGKILL) and restarted at random. Mixed content:
plain uploads, the same bytes twice in one upload, two files that become identical
once de-identified, a ZIP and then its files loose, a study sent again, junk, and
uploads whose sender goes away. Every upload must end within a bounded time — done, or
"needs attention" with a reason for the ones the sender abandoned — every valid file
stored exactly once, and nothing left waiting.

Marked slow; CI runs it at its default size (``SOAK_UPLOADS``, 50 per layout).
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import io
import json
import os
import random
import signal
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file

from tests.conftest import LOAD_GROUP, REPO, worker_database_url
from tests.test_stack import base_env, manage, wait_http

pytestmark = [pytest.mark.slow, pytest.mark.services, LOAD_GROUP]

UPLOADS = int(os.environ.get("SOAK_UPLOADS", "50"))
ACCOUNTS = 4
CLIENTS = 6  # uploads sent at once
DEADLINE = 300  # seconds for every upload to end once the last one was sent
#: Short clocks, so that killed runs and abandoned uploads are noticed within the test.
CLOCKS = {
    "CELERY_SOFT_TIME_LIMIT": "20",
    "CELERY_TIME_LIMIT": "25",
    "INGEST_CLAIM_TIMEOUT": "30",
    "UPLOAD_WATCHDOG_SECONDS": "2",
    "UPLOAD_IDLE_SECONDS": "20",
    "UPLOAD_MAX_REQUEUES": "50",
}


# -- what is sent ------------------------------------------------------------------------


def dicom(n: int, account: int, base: str = "CT_small.dcm", **changes: str) -> bytes:
    """A real file made distinct per (account, n): its own SOP Instance UID."""
    ds = pydicom.dcmread(str(get_testdata_file(base)))
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.77.{account}.{n}"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.78.{account}.{n // 5}"
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def zipped(files: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, data in enumerate(files):
            archive.writestr(f"CD/IMG{i:04d}.dcm", data)
    return buffer.getvalue()


@dataclass
class Plan:
    """One upload: what is sent, and what must come of it."""

    account: int
    kind: str
    files: list[bytes]
    new_instances: int  # instances it adds to the account
    expected: int = 0  # what the page announces (files chosen)
    finish: bool = True  # the sender says it is done (False: it goes away)
    skipped: list[str] = field(default_factory=list)
    upload_id: int = 0


def plans(total: int) -> list[list[Plan]]:
    """Groups of uploads; the uploads of a group are sent in order (a ZIP, then its
    files loose), the groups at once."""
    rng = random.Random(20261203)
    counters = [0] * ACCOUNTS

    def fresh(account: int, count: int) -> list[bytes]:
        start = counters[account]
        counters[account] += count
        return [dicom(start + i, account) for i in range(count)]

    groups: list[list[Plan]] = []
    made = 0
    kinds = ["plain", "twice", "same-after-deid", "zip-then-loose", "again", "junk", "gone"]
    while made < total:
        account = made % ACCOUNTS
        kind = kinds[made % len(kinds)] if made < len(kinds) * 2 else rng.choice(kinds)
        if kind == "plain":
            files = fresh(account, rng.randint(1, 8))
            group = [Plan(account, kind, files, len(files))]
        elif kind == "twice":  # the same bytes twice in one upload: registered once
            files = fresh(account, 2)
            group = [Plan(account, kind, [*files, files[0]], 2)]
        elif kind == "same-after-deid":  # differ only in what de-identification removes
            n = counters[account]
            counters[account] += 1
            a = dicom(n, account, OperatorsName="SMITH^ANNA")
            b = dicom(n, account, OperatorsName="JONES^BOB")
            group = [Plan(account, kind, [a, b], 1)]
        elif kind == "zip-then-loose":
            files = fresh(account, 3)
            group = [Plan(account, "zip", [zipped(files)], 3),
                     Plan(account, "loose", files, 0)]  # fmt: skip
        elif kind == "again":  # a study sent twice
            files = fresh(account, 2)
            group = [Plan(account, kind, files, 2), Plan(account, "again-2", files, 0)]
        elif kind == "junk":
            files = [*fresh(account, 1), b"MZ\x90\x00" + os.urandom(3000),
                     b"not really DICOM " * 40]  # fmt: skip
            group = [Plan(account, kind, files, 1,
                          skipped=["not a DICOM file (looks like a program)"])]  # fmt: skip
        else:  # "gone": two files announced, one sent, never finished
            files = fresh(account, 2)
            group = [Plan(account, kind, files[:1], 1, expected=2, finish=False)]
        groups.append(group)
        made += len(group)
    return groups


# -- the HTTP client (as uploader.js) ------------------------------------------------------


class Client:
    def __init__(self, port: int, session: str) -> None:
        self.port = port
        csrf = "soak" + "x" * 28
        self.headers = {"Cookie": f"sessionid={session}; csrftoken={csrf}",
                        "X-CSRFToken": csrf, "Referer": f"http://127.0.0.1:{port}/"}  # fmt: skip

    def call(self, method: str, path: str, body: bytes = b"", **extra: str) -> Any:
        """One request, retried like the page does on 5xx and dropped connections."""
        for attempt in range(60):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request(method, path, body=body, headers={**self.headers, **extra})
                response = conn.getresponse()
                data = response.read()
                conn.close()
            except OSError:
                time.sleep(min(0.2 * 2**attempt, 3))
                continue
            if response.status >= 500 or response.status == 429:
                time.sleep(min(0.2 * 2**attempt, 3))
                continue
            assert response.status < 300, (method, path, response.status, data[:300])
            return json.loads(data)
        raise AssertionError(f"{method} {path}: no answer after 60 tries")

    def send(self, plan: Plan) -> None:
        announced = plan.expected or len(plan.files) + len(plan.skipped)
        plan.upload_id = self.call(
            "POST", "/api/uploads/", json.dumps({"expected_files": announced}).encode(),
            **{"Content-Type": "application/json"},
        )["id"]  # fmt: skip
        # The page skips a program (and reports it); the same bytes twice are one file
        # to it too (one key).
        sendable = [f for f in plan.files if not f.startswith(b"MZ")]
        seen: dict[str, bytes] = {}
        for data in sendable:
            seen.setdefault(hashlib.sha256(data).hexdigest(), data)
        entries = ",".join(f"{key}:{len(data)}" for key, data in seen.items())
        headers = {"Upload-Batch": entries, "Content-Type": "application/octet-stream"}
        self.call("POST", f"/api/uploads/{plan.upload_id}/batch/", b"".join(seen.values()),
                  **headers)  # fmt: skip
        if plan.finish:
            body = json.dumps({"skipped": [{"reason": r} for r in plan.skipped]}).encode()
            self.call("POST", f"/api/uploads/{plan.upload_id}/finish/", body,
                      **{"Content-Type": "application/json"})  # fmt: skip

    def state(self, upload_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/uploads/{upload_id}/?files=0"))


# -- the processes -------------------------------------------------------------------------


@dataclass
class Layout:
    env: dict[str, str]
    logs: Path
    web: subprocess.Popen[bytes] | None = None
    beat: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: int = 0

    def command(self, procfile: str, name: str) -> list[str]:
        """A Procfile line as ``scripts/procs.py`` (what ``make run``/``make stack`` use)
        runs it."""
        spec = importlib.util.spec_from_file_location("procs", REPO / "scripts" / "procs.py")
        assert spec is not None and spec.loader is not None
        procs = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(procs)
        return dict(procs.parse(REPO / procfile))[name]

    def spawn(self, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        handle = (self.logs / log).open("ab")
        return subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def start(self, procfile: str, workers: int) -> None:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)  # the Procfile's ${VAR} come from the layout
        try:
            web, worker, beat = (self.command(procfile, n) for n in ("web", "worker", "beat"))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.worker_argv = worker
        self.web = self.spawn(web, "web.log")
        self.beat = self.spawn(beat, "beat.log")
        self.workers = [self.spawn([*worker, "-n", f"soak{i}@%h"], f"worker{i}.log")
                        for i in range(workers)]  # fmt: skip

    def kill_one(self, rng: random.Random) -> None:
        """A worker crashes (SIGKILL to its process group) and is started again."""
        i = rng.randrange(len(self.workers))
        os.killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait(10)
        self.kills += 1
        self.workers[i] = self.spawn([*self.worker_argv, "-n", f"soak{i}@%h"], f"worker{i}.log")

    def stop(self) -> None:
        for proc in [self.web, self.beat, *self.workers]:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [self.web, self.beat, *self.workers]:
            if proc is not None:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


SESSIONS = """
import json
from django.contrib.sessions.backends.db import SessionStore
from portal.accounts.models import User
keys = []
for n in range({accounts}):
    u = User.objects.create_user(f"soak{{n}}@example.org", "soak-pass-12345",
                                 role="patient", email_verified=True)
    s = SessionStore()
    s["_auth_user_id"] = str(u.pk)
    s["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    s["_auth_user_hash"] = u.get_session_auth_hash()
    s.create()
    keys.append(s.session_key)
print(json.dumps(keys))
"""

SUMMARY = """
import json
from pathlib import Path
from django.core.files.storage import default_storage
from uploads.intake import quarantine, quota
from uploads.models import Instance, Upload, UploadFile
from portal.accounts.models import User
out = {"uploads": {}, "instances": {}, "stored_bytes_ok": True}
for u in Upload.objects.all():
    files = list(u.files.values_list("status", flat=True))
    out["uploads"][u.pk] = {"state": u.state, "attention": u.attention, "files": files,
                            "studies": list(u.studies.values_list("status", flat=True))}
for user in User.objects.filter(email__startswith="soak"):
    n = int(user.email[4:].split("@")[0])
    out["instances"][n] = Instance.objects.filter(series__study__owner=user).count()
    if quota.stored_bytes(user.pk) != quota.recount(user.pk):
        out["stored_bytes_ok"] = False
names = [i.file for i in Instance.objects.all()]
out["distinct_files"] = len(set(names)) == len(names)
out["files_exist"] = all(default_storage.exists(n) for n in names)
root = Path(default_storage.path("instances"))
out["files_on_disk"] = sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0
out["quarantine"] = sorted({folder.split("/")[0] for folder, _ in quarantine.stored()})
print(json.dumps(out))
"""


def soak(layout: Layout, port: int) -> None:
    sessions = json.loads(
        manage(layout.env, "shell", "--no-imports", "-c", SESSIONS.format(accounts=ACCOUNTS))
        .strip().splitlines()[-1]
    )  # fmt: skip
    clients = [Client(port, key) for key in sessions]
    groups = plans(UPLOADS)
    rng = random.Random(7)
    done = threading.Event()

    def chaos() -> None:
        while not done.wait(rng.uniform(2.0, 5.0)):
            layout.kill_one(rng)

    def run(group: list[Plan]) -> None:
        for plan in group:
            clients[plan.account].send(plan)

    killer = threading.Thread(target=chaos, daemon=True)
    killer.start()
    started = time.monotonic()
    all_plans = [plan for group in groups for plan in group]
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(run, groups))
        sent = time.monotonic() - started
        # Workers keep being killed until every upload has ended.
        deadline = time.monotonic() + DEADLINE
        waiting = list(all_plans)
        while waiting and time.monotonic() < deadline:
            waiting = [p for p in waiting
                       if clients[p.account].state(p.upload_id)["state"] == "open"]  # fmt: skip
            time.sleep(1)
        ended = time.monotonic() - started
    finally:
        done.set()
        killer.join(10)
    finished = {str(p.upload_id) for p in all_plans if p.finish}
    # A worker killed right after ending an upload leaves its clean-up to the watchdog's
    # next round (UPLOAD_WATCHDOG_SECONDS): give it a few rounds, then the check counts.
    for _ in range(5):
        summary = json.loads(
            manage(layout.env, "shell", "--no-imports", "-c", SUMMARY).strip().splitlines()[-1]
        )
        if not finished & set(summary["quarantine"]):
            break
        time.sleep(2)
    print(f"{len(all_plans)} uploads sent in {sent:.0f} s, all ended after {ended:.0f} s, "
          f"{layout.kills} worker kills")  # fmt: skip
    assert not waiting, f"{len(waiting)} uploads still open: {[p.kind for p in waiting]}"
    assert len(all_plans) >= UPLOADS and layout.kills >= 2
    for plan in all_plans:
        row = summary["uploads"][str(plan.upload_id)]
        if plan.finish:
            assert row["state"] == "done", (plan.kind, row)
            assert not set(row["files"]) & {"receiving", "received"}, (plan.kind, row)
            assert set(row["studies"]) <= {"ready"}, (plan.kind, row)
        else:
            assert row["state"] == "needs_attention", (plan.kind, row)
            assert "1 of 2 files" in row["attention"], row
        if plan.kind == "junk":  # skipped by the page, and refused by the server
            assert row["files"].count("rejected") == 2, row
    for account in range(ACCOUNTS):
        expected = sum(p.new_instances for p in all_plans if p.account == account)
        assert summary["instances"][str(account)] == expected, (account, summary["instances"])
    total = sum(p.new_instances for p in all_plans)
    assert summary["distinct_files"] and summary["files_exist"]
    assert summary["files_on_disk"] == total, "a file stored twice, or a leftover"
    assert summary["stored_bytes_ok"], "the quota's running total drifted"
    left = finished & set(summary["quarantine"])
    assert not left, f"quarantine not emptied for uploads {left}"


def layout_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = base_env(tmp_path)
    # Its own cache keys (rate-limit counters of earlier runs on the same Redis), and no
    # limit on starting uploads: 50 uploads from 4 accounts is not what is tested here.
    env.update(CLOCKS, WORKER_CONCURRENCY="1", UPLOAD_CREATE_RATE="0", **extra)
    env["CACHE_KEY_PREFIX"] = f"soak-{os.getpid()}-{time.monotonic_ns()}"
    return env


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "logs"
    folder.mkdir()
    yield folder
    for log in sorted(folder.glob("*.log")):  # shown when the test fails
        print(f"== {log.name}\n{log.read_text(errors='replace')[-3000:]}")


def test_embedded_run_on_sqlite_every_upload_ends(tmp_path: Path, logs: Path) -> None:
    env = layout_env(tmp_path)
    manage(env, "migrate", "--noinput")
    layout = Layout(env, logs)
    port = int(env["PORTAL_PORT"])
    layout.start("Procfile.dev", workers=2)
    try:
        wait_http(f"http://127.0.0.1:{port}/login/", logs / "web.log")
        soak(layout, port)
    finally:
        layout.stop()


def test_production_stack_every_upload_ends(
    tmp_path: Path, logs: Path, require_postgres: None, require_redis: str,
    transactional_db: Any,
) -> None:  # fmt: skip
    from portal.celery import app

    app.control.purge()
    env = layout_env(tmp_path, DATABASE_URL=worker_database_url(), REDIS_URL=require_redis,
                     WEB_WORKERS="3")  # fmt: skip
    layout = Layout(env, logs)
    port = int(env["PORTAL_PORT"])
    layout.start("Procfile", workers=2)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", logs / "web.log")
        soak(layout, port)
    finally:
        layout.stop()
        app.control.purge()
