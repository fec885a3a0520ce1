"""`make bench` on a fresh machine (issue 16): the bench stack (bench/stackutil.py) comes up
on a database of its own with its DICOM receiver alive on loopback and a Redis server of
its own, and leaves nothing behind; when a process of the stack dies it fails fast with
the log, and still drops its database."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bench import stackutil
from tests.conftest import LOAD_GROUP, missing

pytestmark = [pytest.mark.services, LOAD_GROUP]


def databases() -> set[str]:
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-At", "-c",
         "SELECT datname FROM pg_database"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return set(out.split())


def ours() -> set[str]:
    """The bench databases this process made (other runs on the machine make theirs)."""
    return {name for name in databases() if name.startswith(f"portal_bench_{os.getpid()}_")}


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def bench_services() -> None:
    if not Path(stackutil.REDIS_SERVER).exists():
        missing(f"{stackutil.REDIS_SERVER} not installed (Debian package redis-server)")
    try:
        databases()
    except (OSError, subprocess.CalledProcessError):
        missing("PostgreSQL not reachable on 127.0.0.1:5432 with psql")


def test_bench_stack_on_a_fresh_database_leaves_nothing_behind(bench_services: None) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    assert ours() == set()
    with stackutil.stack(workers=1, concurrency=1) as info:
        env = info["env"]
        assert ours() == {info["database"]}
        assert env["DATABASE_URL"].endswith("/" + info["database"])
        # Its own Redis: not the shared server on 6379, a child process of the bench.
        redis_port = int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        assert redis_port != 6379
        assert env["REDIS_URL"].startswith("redis://127.0.0.1:")
        assert answers(redis_port)
        # The receiver runs for the bench user, on a free loopback port, and answers C-ECHO.
        assert env["DICOM_RECEIVER_OWNER"] == stackutil.BENCH_USER
        assert env["DICOM_BIND"] == "127.0.0.1"
        ae = AE(ae_title="BENCHTEST")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", info["dicom_port"], ae_title="PORTAL")
        assert assoc.is_established
        status = assoc.send_c_echo()
        assoc.release()
        assert status.Status == 0x0000
        info["check"]()  # the stack is alive
        assert b"dicom | DICOM receiver" in info["log"].read_bytes()
    assert info["proc"].poll() is not None
    assert not answers(redis_port)
    assert not Path(info["data_dir"]).exists()
    assert ours() == set()


def test_a_stack_that_dies_fails_fast_with_its_log_and_drops_its_database(
    bench_services: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver owner without an account (today's `make bench` on a fresh clone):
    the receiver exits, the Procfile runner stops all, the bench says so at once."""
    monkeypatch.setattr(stackutil, "BENCH_USER", "nobody@example.org")
    t0 = time.monotonic()
    with pytest.raises(stackutil.BenchError) as failure, stackutil.stack(1, 1):
        pytest.fail("the stack came up with a receiver for an account that does not exist")
    assert time.monotonic() - t0 < 60
    message = str(failure.value)
    assert "exited early" in message
    assert "no active account nobody@example.org" in message  # the log's tail
    assert ours() == set()
