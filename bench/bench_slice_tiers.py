"""Benchmark: the three tiers of a slice PNG, in-process (no HTTP, no database).

Run: ``.venv/bin/python bench/bench_slice_tiers.py [--rounds N]``

For every slice of the real 28-slice GE CT series (``../shared/dicom/dcm_qa_ct/GE``,
512x512), in interleaved rounds, the server-side work of ``uploads/viewer/rendering.py``:

* cold render: read the DICOM file from storage, render, put the PNG in the hot cache;
* derived storage: read the pre-rendered PNG from local disk (``derived/…``), check it is
  whole, put it in the hot cache (what ``stored_slice`` does on a hot-cache miss);
* hot cache hit: the PNG from Redis.

A private ``redis-server`` (free loopback port, no persistence) and a temporary
``DATA_DIR`` / ``MEDIA_ROOT`` are used. Prints medians and ratios to the cold render.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERIES = REPO.parent / "shared" / "dicom" / "dcm_qa_ct" / "GE"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    files = sorted(SERIES.glob("*.dcm"))
    if not files:
        sys.exit(f"no CT series in {SERIES}")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            run(files, args.rounds, tmp, port)
        finally:
            redis.terminate()
            redis.wait(10)


def run(files: list[Path], rounds: int, tmp: str, port: int) -> None:
    os.environ.update(
        DATA_DIR=tmp,
        MEDIA_ROOT=str(Path(tmp) / "media"),
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    import redis as redis_py
    from django.core.cache import cache
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from uploads import storage
    from uploads.models import Instance
    from uploads.viewer import rendering
    from uploads.viewer.rendering import SliceParams

    client = redis_py.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis_py.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)

    owner = 1
    params = SliceParams()  # the default window, as the viewer opens a series
    instances = []
    for n, path in enumerate(files, start=1):
        name = default_storage.save(f"instances/{owner}/{n}.dcm", ContentFile(path.read_bytes()))
        instances.append(Instance(pk=n, file=name, frames=1))
    for instance in instances:  # pre-render into derived storage, as the task does
        png, _ = rendering.render_slice(instance, params)
        storage.store_derived(rendering.derived_name(instance, params, owner), png)

    times: dict[str, list[float]] = {"cold render": [], "derived storage": [], "hot cache": []}
    for _ in range(rounds):
        for instance in instances:
            key = rendering.cache_key(instance, params)
            name = rendering.derived_name(instance, params, owner)
            cache.delete(key)
            t0 = time.perf_counter()
            rendering.render_slice(instance, params)
            t1 = time.perf_counter()
            cache.delete(key)
            t2 = time.perf_counter()
            png = rendering.read_derived(name)
            assert png is not None
            cache.set(key, png, 3600)
            t3 = time.perf_counter()
            hit = rendering.cached_slice((instance.pk, rendering.file_tag(instance.file)), params)
            t4 = time.perf_counter()
            assert hit is not None and hit[0] == png
            times["cold render"].append((t1 - t0) * 1000)
            times["derived storage"].append((t3 - t2) * 1000)
            times["hot cache"].append((t4 - t3) * 1000)

    size = statistics.median(len(rendering.read_derived(storage.derived_names(owner, i.pk)[0])
                                 or b"") for i in instances)  # fmt: skip
    cold = statistics.median(times["cold render"])
    print(f"{len(instances)} CT slices 512x512, {rounds} interleaved rounds, "
          f"median PNG {size / 1024:.0f} KiB, {os.cpu_count()} CPUs")  # fmt: skip
    for tier, values in times.items():
        median = statistics.median(values)
        p95 = sorted(values)[int(0.95 * (len(values) - 1))]
        print(f"{tier:<16} median {median:6.2f} ms  p95 {p95:6.2f} ms  "
              f"{median / cold:5.2f}x the cold render (n={len(values)})")  # fmt: skip
    shutil.rmtree(Path(tmp) / "media", ignore_errors=True)


if __name__ == "__main__":
    main()
