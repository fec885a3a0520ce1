"""Viewer over HTTP on the production processes (gunicorn + worker + PostgreSQL + Redis):
slice PNG latency cold (nothing cached) and cached, and scrolling speed with prefetch."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.stackutil import REPO, Client, median, p95, series_files, stack


def timed_get(client: Client, path: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    status, body, _ = client.request("GET", path)
    return (time.perf_counter() - t0) * 1000, status, len(body)


def main() -> None:
    label, paths = series_files()
    print(f"series: {label}: {len(paths)} files")
    with stack() as info:
        subprocess.run(
            [sys.executable, "manage.py", "import_dicom", *map(str, paths), "--owner",
             "bench@example.org"],
            cwd=REPO, env=info["env"], check=True, capture_output=True,
        )  # fmt: skip
        client = Client(info["port"], info["session"])
        studies = subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c",
             "from uploads.models import Study; print(Study.objects.get().pk)"],
            cwd=REPO, env=info["env"], check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        manifest = client.json("GET", f"/api/studies/{studies[-1]}/manifest/")
        images = manifest["series"][0]["images"]
        # The pre-render task may have warmed default slices: use a window nobody asked for.
        cold, cached = [], []
        for round_no in range(3):
            window = f"wc={37 + round_no}&ww={351 + round_no}"
            for image in images:
                ms, status, _ = timed_get(
                    client, f"/api/instances/{image['id']}/slice.png?{window}"
                )
                assert status == 200, status
                cold.append(ms)
            for image in images:
                ms, status, _ = timed_get(
                    client, f"/api/instances/{image['id']}/slice.png?{window}"
                )
                assert status == 200
                cached.append(ms)
        print(f"slice PNG over HTTP, cold (render + cache write): median {median(cold):.1f} ms, "
              f"p95 {p95(cold):.1f} ms  (n={len(cold)})")  # fmt: skip
        print(f"slice PNG over HTTP, cached:                      median {median(cached):.1f} ms, "
              f"p95 {p95(cached):.1f} ms  (n={len(cached)})")  # fmt: skip

        # Scrolling: the viewer shows slice i while 4 connections prefetch the next ones.
        for prefetch in (0, 4):
            window = f"wc={80 + prefetch}&ww={700 + prefetch}"
            fetched: dict[int, threading.Event] = {i: threading.Event() for i in range(len(images))}
            queue = list(range(len(images)))
            lock = threading.Lock()

            def prefetcher(
                window: str = window,
                queue: list[int] = queue,
                lock: threading.Lock = lock,
                fetched: dict[int, threading.Event] = fetched,
            ) -> None:
                c = Client(info["port"], info["session"])
                while True:
                    with lock:
                        if not queue:
                            return
                        i = queue.pop(0)
                    c.request("GET", f"/api/instances/{images[i]['id']}/slice.png?{window}")
                    fetched[i].set()

            threads = [threading.Thread(target=prefetcher) for _ in range(prefetch)]
            t0 = time.perf_counter()
            for thread in threads:
                thread.start()
            viewer = Client(info["port"], info["session"])
            for i, image in enumerate(images):
                if prefetch and fetched[i].wait(0) is False:
                    with lock:
                        mine = i in queue
                        if mine:
                            queue.remove(i)
                    if not mine:
                        fetched[i].wait(30)
                viewer.request("GET", f"/api/instances/{image['id']}/slice.png?{window}")
            elapsed = time.perf_counter() - t0
            for thread in threads:
                thread.join()
            print(f"scrolling {len(images)} slices (new window), prefetch connections={prefetch}: "
                  f"{len(images) / elapsed:.0f} slices/s")  # fmt: skip


if __name__ == "__main__":
    main()
