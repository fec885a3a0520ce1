"""Benchmark: region statistics (mean/SD/min/max/area) on a 512x512 CT slice (issue 18).

Run: ``.venv/bin/python bench/bench_roi.py [--iterations N] [--file PATH]``

Prints median and p95 (ms) of ``uploads.dicom.roi.roi_stats`` for an ellipse and a
rectangle covering about a quarter of the slice and for a whole-slice rectangle, on the
frame already decoded in modality units (what the viewer's endpoint keeps per process),
then the same with the decode of the file (a cold request). Baseline, measured in the
same run and interleaved: the naive numpy way — a full-image ``np.ogrid`` ellipse mask
and ``values[mask]`` for each statistic. Target (issue 18): ≤ 10 ms on a 512² slice.

Data: ``../shared/dicom/dcm_qa_ct/GE/14.dcm`` beside the repository (a real 512x512 GE
head CT); falls back to pydicom's 128x128 ``CT_small.dcm`` repeated to 512x512.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.results import Results  # noqa: E402
from uploads.dicom import roi  # noqa: E402

GE_SLICE = REPO.parent / "shared" / "dicom" / "dcm_qa_ct" / "GE" / "14.dcm"
TARGET_MS = 10.0


def timings(fn: Callable[[], Any], iterations: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def stats(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[
        min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))
    ]


def naive_ellipse(
    values: np.ndarray, x0: float, y0: float, x1: float, y1: float
) -> dict[str, float]:
    """Full-image mask, then each statistic on ``values[mask]``."""
    rows, cols = np.ogrid[: values.shape[0], : values.shape[1]]
    cx, cy, ax, ay = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    mask = ((cols + 0.5 - cx) / ax) ** 2 + ((rows + 0.5 - cy) / ay) ** 2 <= 1
    return {"mean": values[mask].mean(), "sd": values[mask].std(), "min": values[mask].min(),
            "max": values[mask].max(), "n": mask.sum()}  # fmt: skip


def load(path: Path | None) -> tuple[roi.ModalityFrame, bytes | None, str]:
    if path is not None and path.exists():
        data = path.read_bytes()
        return roi.modality_frame(data), data, path.name
    from pydicom.data import get_testdata_file

    small = roi.modality_frame(str(get_testdata_file("CT_small.dcm")))
    tiled = np.tile(small.values, (4, 4))
    return roi.ModalityFrame(tiled, small.spacing, small.unit), None, "CT_small.dcm tiled to 512²"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--file", type=Path, default=GE_SLICE)
    args = parser.parse_args()
    frame, data, label = load(args.file)
    h, w = frame.values.shape
    print(f"ROI statistics on {label}: {w}x{h}, unit {frame.unit or '(none)'}")
    quarter = (w * 0.25, h * 0.25, w * 0.75, h * 0.75)
    cases = {
        "ellipse, half the width": ("ellipse", quarter),
        "rectangle, half the width": ("rectangle", quarter),
        "rectangle, whole slice": ("rectangle", (0, 0, w, h)),
    }
    table = Results("roi")
    ours_ellipse = None
    for title, (shape, box) in cases.items():
        median, p95 = stats(
            timings(lambda s=shape, b=box: roi.roi_stats(frame, s, *b), args.iterations)
        )
        print(f"  {title:<34} median {median:7.3f} ms   p95 {p95:7.3f} ms")
        if title.startswith("ellipse"):
            ours_ellipse = median
    # The baseline, interleaved with ours call by call (same machine state).
    ours_t, naive_t = [], []
    for _ in range(args.iterations):
        start = time.perf_counter()
        roi.roi_stats(frame, "ellipse", *quarter)
        ours_t.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        naive_ellipse(frame.values, *quarter)
        naive_t.append((time.perf_counter() - start) * 1000)
    ours_i, naive_i = statistics.median(ours_t), statistics.median(naive_t)
    check = naive_ellipse(frame.values, *quarter)
    mine = roi.roi_stats(frame, "ellipse", *quarter)
    assert mine.pixels == check["n"] and abs(mine.mean - check["mean"]) < 1e-9, "results differ"
    print(f"  interleaved: ours {ours_i:.3f} ms, naive numpy {naive_i:.3f} ms "
          f"(ratio naive/ours {naive_i / ours_i:.2f}); same pixels and mean")  # fmt: skip
    table.add("ROI statistics, ellipse on a 512² slice (decoded)", ours_i, "ms",
              baseline=naive_i, baseline_name="numpy full-image mask",
              note=f"target ≤ {TARGET_MS:g} ms")  # fmt: skip
    if data is not None:
        cold = stats(
            timings(lambda: roi.roi_stats(roi.modality_frame(data), "ellipse", *quarter), 30)
        )
        print(
            f"  cold (decode the file + statistics) median {cold[0]:.3f} ms, p95 {cold[1]:.3f} ms"
        )
        table.add("ROI statistics with the file's decode", cold[0], "ms")
    verdict = "meets" if (ours_ellipse or ours_i) <= TARGET_MS else "MISSES"
    print(f"  {verdict} the target of {TARGET_MS:g} ms")
    table.save()


if __name__ == "__main__":
    main()
