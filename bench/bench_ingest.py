"""Ingest throughput end to end: HTTP upload (small files in batches, as the upload page
sends them) → Celery worker (de-identify, store, index) → upload done, on gunicorn +
worker + PostgreSQL + Redis, next to the plain pydicom read+write floor of the same files,
in the same run. Also prints the CPU each process group spent per file, and one round
sent one file per request, to show what batching saves.

With Orthanc installed (bench/orthanc.py), each round also sends the same files to an
Orthanc of the bench's own (``POST /instances``, as many parallel connections), then
anonymizes the stored studies (``POST /studies/{id}/anonymize``): files/s and Orthanc's
CPU per file, interleaved with the portal's rounds."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cpu import per_item_ms, snapshot
from bench.orthanc import Orthanc, orthanc
from bench.results import Results
from bench.stackutil import (
    BenchError,
    Client,
    median,
    send_batches,
    series_files,
    stack,
    wait_until,
)

ROUNDS = 5
COPIES = 6  # each round sends the series this many times (new instance UIDs each time)
PARALLEL = 3  # as the upload page


def floor_ms(files: list[bytes]) -> float:
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for data in files:
            ds = pydicom.dcmread(io.BytesIO(data))
            out = io.BytesIO()
            ds.save_as(out)
        runs.append((time.perf_counter() - t0) * 1000 / len(files))
    return median(runs)


def upload_once(
    info: dict,
    files: list[tuple[str, bytes]],
    per_request: int | None = None,
) -> float:
    port, session, database_url = info["port"], info["session"], info["env"]["DATABASE_URL"]
    setup = Client(port, session)
    t0 = time.perf_counter()  # includes creating the upload: two small requests
    upload = send_batches(port, session, [data for _, data in files], PARALLEL, per_request)
    sent = time.perf_counter() - t0
    # Watch the database, not the API: polling the portal every few ms would load the very
    # processes being measured.
    with psycopg2.connect(database_url) as db, db.cursor() as cursor:
        db.autocommit = True

        def done() -> bool:
            cursor.execute("SELECT state FROM uploads_upload WHERE id = %s", [upload])
            return bool(cursor.fetchone()[0] == "done")

        wait_until(done, 300, f"upload {upload} to be done", proc=info["proc"],
                   log=info["log"], interval=0.005)  # fmt: skip
    elapsed = time.perf_counter() - t0
    state = setup.json("GET", f"/api/uploads/{upload}/?files=0")
    print(f"    all bytes sent after {sent:.2f} s; indexed after {elapsed:.2f} s")
    done = state["counts"]["done"]
    if done != len(files) or state["counts"]["rejected"]:  # all stored, none lost
        raise RuntimeError(f"expected {len(files)} stored, got {json.dumps(state['counts'])}")
    return elapsed


Timings = tuple[float, float, float, float]


def orthanc_once(peer: Orthanc, files: list[tuple[str, bytes]]) -> Timings:
    """Store the files in Orthanc (PARALLEL connections), then anonymize their studies.
    (store seconds, store CPU seconds, anonymize seconds, anonymize CPU seconds)."""
    queue = [data for _, data in files]
    lock = threading.Lock()
    studies: set[str] = set()
    errors: list[Exception] = []

    def worker() -> None:
        conn = peer.connection()
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    data = queue.pop()
                study = conn.store(data)["ParentStudy"]
                with lock:
                    studies.add(study)
        except Exception as exc:
            errors.append(exc)

    cpu0, t0 = peer.cpu_seconds(), time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise BenchError(f"Orthanc store failed: {errors[0]}")
    cpu1, t1 = peer.cpu_seconds(), time.perf_counter()
    for study in sorted(studies):
        peer.anonymize(study)
    cpu2, t2 = peer.cpu_seconds(), time.perf_counter()
    peer.delete_all()  # not timed: each round starts empty, as the portal's database grows
    return t1 - t0, cpu1 - cpu0, t2 - t1, cpu2 - cpu1


def wait_idle(scope: dict, timeout: float = 60) -> None:
    """Wait until the Celery worker has used no CPU for half a second."""
    deadline = time.monotonic() + timeout
    last = snapshot(scope)["celery worker"]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = snapshot(scope)["celery worker"]
        if now - last < 0.02:
            return
        last = now
    print(f"    (the worker was still busy after {timeout:.0f} s; going on)")


def main() -> None:
    label, paths = series_files()
    files = [(p.name, p.read_bytes()) for p in paths]
    megabytes = sum(len(d) for _, d in files) / 1e6
    print(f"series: {label}: {len(files)} files, {megabytes:.1f} MB")
    floor = floor_ms([d for _, d in files])
    print(f"floor (pydicom read+write in this process): {floor:.2f} ms/file, "
          f"{1000 / floor:.0f} files/s")  # fmt: skip
    with stack() as info, orthanc() as peer:
        times = []
        cpu: dict[str, list[float]] = {}
        peer_runs: list[Timings] = []
        for round_no in range(ROUNDS + 2):
            # Round 0 warms the processes up and the last round sends one file per
            # request; neither is counted. Each round uploads different bytes (a new SOP
            # instance per file), so nothing is recognised as already stored.
            single = round_no == ROUNDS + 1
            variant = []
            for copy in range(COPIES):
                for name, data in files:
                    ds = pydicom.dcmread(io.BytesIO(data))
                    ds.SOPInstanceUID = pydicom.uid.generate_uid()
                    ds.StudyInstanceUID = f"{ds.StudyInstanceUID}.{round_no}.{copy}"[:64]
                    out = io.BytesIO()
                    ds.save_as(out)
                    variant.append((f"{copy}-{name}", out.getvalue()))
            before = snapshot(info["scope"])
            elapsed = upload_once(info, variant, 1 if single else None)
            spent = per_item_ms(before, snapshot(info["scope"]), len(variant))
            # The finished upload queues a cache warm-up (pre-rendering); let it end so
            # each round measures the ingest alone.
            wait_idle(info["scope"])
            rate = len(variant) / elapsed
            label_round = ("warm-up" if round_no == 0 else "one file per request" if single
                           else f"round {round_no}")  # fmt: skip
            print(f"  {label_round}: {len(variant)} files in {elapsed:.2f} s, {rate:.0f} files/s"
                  f"; CPU {spent['machine']:.1f} ms a file")  # fmt: skip
            if 0 < round_no <= ROUNDS:
                times.append(elapsed)
                for group, ms in spent.items():
                    cpu.setdefault(group, []).append(ms)
            if peer is not None and not single:
                run = orthanc_once(peer, variant)
                store_s, _, anon_s, _ = run
                print(f"    Orthanc: store {len(variant) / store_s:.0f} files/s, store + "
                      f"anonymize {len(variant) / (store_s + anon_s):.0f} files/s")  # fmt: skip
                if round_no > 0:
                    peer_runs.append(run)
    n = len(files) * COPIES
    megabytes *= COPIES
    best = median(times)
    rate = n / best
    print(
        f"end to end (HTTP upload -> worker -> indexed, {PARALLEL} parallel uploads), median "
        f"of {ROUNDS}: {best:.2f} s = {rate:.0f} files/s, {megabytes / best:.1f} MB/s"
    )
    spent = {group: median(values) for group, values in cpu.items()}
    machine = spent.pop("machine")
    print(
        "CPU per file (median of the rounds), ms: "
        + ", ".join(f"{group} {ms:.1f}" for group, ms in spent.items())
        + f"; whole machine {machine:.1f} (at 100 files/s, 2 cores have 20 ms a file)"
    )
    print(f"ratio end-to-end per file / floor: {best * 1000 / n / floor:.1f}x")
    print(f"target >= 100 files/s: {'met' if rate >= 100 else 'NOT met'}")
    server_cpu = sum(spent[group] for group in ("gunicorn", "celery worker", "postgres", "redis"))
    results = Results("ingest")
    store = anon = store_cpu = anon_cpu = None
    if peer_runs:
        store = n / median([r[0] for r in peer_runs])
        anon = n / median([r[0] + r[2] for r in peer_runs])
        store_cpu = median([r[1] * 1000 / n for r in peer_runs])
        anon_cpu = median([(r[1] + r[3]) * 1000 / n for r in peer_runs])
        print(f"Orthanc, median of {len(peer_runs)}: store {store:.0f} files/s "
              f"({store_cpu:.1f} ms CPU a file), store + anonymize {anon:.0f} files/s "
              f"({anon_cpu:.1f} ms CPU a file)")  # fmt: skip
    results.add("ingest end to end (HTTP -> de-identified, indexed)", rate, "files/s",
                baseline=1000 / floor, baseline_name="pydicom read+write",
                orthanc=anon, note="Orthanc: store + anonymize")  # fmt: skip
    results.add("ingest CPU per file (server processes)", server_cpu, "ms",
                baseline=floor, baseline_name="pydicom read+write",
                orthanc=anon_cpu, note="Orthanc: store + anonymize")  # fmt: skip
    results.add("store only (no de-identification)", None, "files/s", orthanc=store,
                note="the portal always de-identifies")  # fmt: skip
    results.add("store only CPU per file", None, "ms", orthanc=store_cpu)
    results.save()


if __name__ == "__main__":
    main()
