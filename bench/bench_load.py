"""Load on the production processes (gunicorn + celery worker + beat, PostgreSQL, Redis),
loopback only: concurrent uploaders and viewers, bounded in requests and time.

    python bench/bench_load.py [--uploaders 50] [--viewers 20] [--files 4]
                               [--viewer-requests 25] [--duration 120]

Each uploader is its own patient account: it starts an upload, sends a few real files
(new UIDs per uploader, so nothing is recognised as already stored) one request each as
the upload page does, and polls the status until its upload is done. Each viewer loads
the manifest of an imported study and fetches slice PNGs with random windows (renders,
not cache hits). Reported: throughput (requests/s, files/s), errors, lost files (stored
instances compared with files sent, in the database) and p50/p95 per endpoint.
Exit status 1 when a request failed or a file was lost.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.results import Results
from bench.stackutil import BENCH_USER, Client, manage, median, p95, series_files, stack

POLL_SECONDS = 0.5


class Stats:
    """Latencies and errors per endpoint, shared by all threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.bytes_sent = 0

    def call(self, client: Client, endpoint: str, method: str, path: str,
             body: bytes | None = None, headers: dict[str, str] | None = None,
             ok: tuple[int, ...] = (200, 201)) -> tuple[int, bytes]:  # fmt: skip
        t0 = time.perf_counter()
        try:
            status, data, _ = client.request(method, path, body, headers)
        except Exception as exc:  # a reset connection or a timeout is an error too
            client.conn.close()
            with self.lock:
                self.errors[endpoint].append(type(exc).__name__)
            return 0, b""
        ms = (time.perf_counter() - t0) * 1000
        with self.lock:
            self.latency[endpoint].append(ms)
            if body:
                self.bytes_sent += len(body)
            if status not in ok:
                self.errors[endpoint].append(f"HTTP {status}: {data[:120]!r}")
        return status, data


def shell(env: dict[str, str], code: str) -> str:
    return manage(env, "shell", "--no-imports", "-c", code)


def make_users(env: dict[str, str], count: int) -> list[str]:
    """``count`` verified patient accounts, each with a session; their session keys."""
    code = (
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from portal.accounts.models import User\n"
        f"for i in range({count}):\n"
        "    u = User.objects.create_user(f'load{i}@example.org', 'load-pass-123',"
        " role='patient', email_verified=True)\n"
        "    s = SessionStore(); s['_auth_user_id'] = str(u.pk)\n"
        "    s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'\n"
        "    s['_auth_user_hash'] = u.get_session_auth_hash(); s.create(); print(s.session_key)\n"
    )
    return shell(env, code).split()


def variants(files: list[bytes], uploader: int) -> list[tuple[str, bytes]]:
    """The files as a new study of their own (new Study/Series/SOP Instance UIDs)."""
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    out = []
    for n, data in enumerate(files):
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((f"uploader{uploader}-{n}.dcm", buffer.getvalue()))
    return out


def uploader(port: int, session: str, files: list[tuple[str, bytes]], stats: Stats,
             deadline: float, done: list[float]) -> None:  # fmt: skip
    client = Client(port, session)
    status, body = stats.call(
        client, "POST /api/uploads/", "POST", "/api/uploads/",
        json.dumps({"expected_files": len(files)}).encode(), {"Content-Type": "application/json"},
    )  # fmt: skip
    if status != 201:
        return
    upload = json.loads(body)["id"]
    for name, data in files:
        key = hashlib.sha256(data).hexdigest()
        for _attempt in range(3):  # the upload page retries a failed PUT
            status, _ = stats.call(
                client, "PUT /api/uploads/<id>/files/<key>", "PUT",
                f"/api/uploads/{upload}/files/{key}", data,
                {"Upload-Offset": "0", "Upload-Length": str(len(data)), "Upload-Name": name,
                 "Content-Type": "application/octet-stream"},
            )  # fmt: skip
            if status == 200:
                break
    while time.monotonic() < deadline:
        status, body = stats.call(client, "GET /api/uploads/<id>/", "GET",
                                  f"/api/uploads/{upload}/")  # fmt: skip
        if status == 200 and json.loads(body)["state"] == "done":
            with stats.lock:
                done.append(time.perf_counter())
            return
        time.sleep(POLL_SECONDS)


def viewer(port: int, session: str, study: int, stats: Stats, requests: int,
           deadline: float, seed: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    client = Client(port, session)
    status, body = stats.call(client, "GET /api/studies/<id>/manifest/", "GET",
                              f"/api/studies/{study}/manifest/")  # fmt: skip
    if status != 200:
        return
    images = [i["id"] for s in json.loads(body)["series"] for i in s["images"]]
    for _ in range(requests):
        if time.monotonic() > deadline:
            return
        window = f"wc={rng.randint(-200, 400)}&ww={rng.randint(50, 2000)}"
        stats.call(client, "GET /api/instances/<id>/slice.png", "GET",
                   f"/api/instances/{rng.choice(images)}/slice.png?{window}")  # fmt: skip


def report(stats: Stats, elapsed: float, sent_files: int, stored: int, upload_span: float,
           uploads_done: int, uploaders: int) -> bool:  # fmt: skip
    total = sum(len(v) for v in stats.latency.values())
    errors = sum(len(v) for v in stats.errors.values())
    print(f"\n== load: {total} requests in {elapsed:.1f} s = {total / elapsed:.1f} requests/s")
    print(f"   uploads: {uploads_done}/{uploaders} done; files sent {sent_files}, stored "
          f"{stored}, lost {sent_files - stored}")  # fmt: skip
    if upload_span > 0:
        print(f"   ingest: {sent_files / upload_span:.1f} files/s "
              f"({stats.bytes_sent / 1e6 / upload_span:.1f} MB/s) from first upload to last "
              f"upload done ({upload_span:.1f} s)")  # fmt: skip
    print(f"   errors: {errors} ({100 * errors / max(total + errors, 1):.2f} %)")
    print(f"   {'endpoint':<40} {'n':>6} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for endpoint in sorted(set(stats.latency) | set(stats.errors)):
        values = stats.latency.get(endpoint) or [0.0]
        print(f"   {endpoint:<40} {len(stats.latency.get(endpoint, [])):>6} "
              f"{len(stats.errors.get(endpoint, [])):>4} {median(values):>8.1f} "
              f"{p95(values):>8.1f} {max(values):>8.1f}")  # fmt: skip
    for endpoint, messages in stats.errors.items():
        print(f"   first errors of {endpoint}: {messages[:3]}")
    ok = errors == 0 and stored == sent_files and uploads_done == uploaders
    print(f"   result: {'OK (0 errors, 0 lost files)' if ok else 'FAILED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploaders", type=int, default=50)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--files", type=int, default=4, help="files per uploader")
    parser.add_argument("--viewer-requests", type=int, default=25, help="slices per viewer")
    parser.add_argument("--duration", type=float, default=120, help="stop after (s)")
    parser.add_argument("--web-workers", type=int, default=3)
    args = parser.parse_args(argv)

    label, paths = series_files()
    originals = [p.read_bytes() for p in paths[: args.files]]
    print(f"series: {label}; {args.uploaders} uploaders x {args.files} files "
          f"({sum(map(len, originals)) / 1e6:.1f} MB per uploader), {args.viewers} viewers x "
          f"{args.viewer_requests} slices; at most {args.duration:.0f} s")  # fmt: skip
    batches = [variants(originals, n) for n in range(args.uploaders)]
    with stack(workers=args.web_workers) as info:
        env, port = info["env"], info["port"]
        manage(env, "import_dicom", *map(str, paths), "--owner", BENCH_USER)
        study = int(shell(env, "from uploads.models import Study; "
                                "print(Study.objects.get().pk)").split()[-1])  # fmt: skip
        sessions = make_users(env, args.uploaders)
        stats = Stats()
        done: list[float] = []
        t0 = time.perf_counter()
        deadline = time.monotonic() + args.duration
        threads = [
            threading.Thread(
                target=uploader, args=(port, sessions[n], batches[n], stats, deadline, done)
            )
            for n in range(args.uploaders)
        ] + [
            threading.Thread(
                target=viewer,
                args=(port, info["session"], study, stats, args.viewer_requests, deadline, n),
            )
            for n in range(args.viewers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t0
        # Lost files: what the database holds for the uploaders, compared with what was sent.
        stored = int(shell(env, (
            "from uploads.models import Instance; "
            "print(Instance.objects.filter(series__study__owner__email__startswith='load')"
            ".count())"
        )).split()[-1])  # fmt: skip
    span = (max(done) - t0) if done else 0.0
    ok = report(stats, elapsed, args.uploaders * args.files, stored, span, len(done),
                args.uploaders)  # fmt: skip
    results = Results("load")
    total = sum(len(v) for v in stats.latency.values())
    errors = sum(len(v) for v in stats.errors.values())
    results.add(f"load: {args.uploaders} uploaders + {args.viewers} viewers", total / elapsed,
                "requests/s", note=f"{errors} errors, {args.uploaders * args.files - stored} "
                "files lost")  # fmt: skip
    results.save()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
