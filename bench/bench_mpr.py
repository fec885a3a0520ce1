"""Benchmark: multiplanar reformat of a 512x512x300 CT (uploads/dicom/volume.py, mpr.py).

Run: ``.venv/bin/python bench/bench_mpr.py [--slices 300] [--rounds 5] [--planes 100]``

The CT is made from the real GE head CT beside the repository (28 slices of 512x512,
signed 16-bit): its slices repeated in order up to ``--slices`` files (Explicit VR Little
Endian, as the portal stores them), axial, 0.49 mm pixels, 0.83 mm apart, so a coronal
or sagittal plane is 512x512 after square-pixel resampling. Falls back to pydicom's
CT_small.dcm (128x128) repeated when ../shared/dicom is absent.

Prints medians (and p95) of, in the same run:
  (a) volume load: the series' file bytes -> one volume (parse, pixel data, stack), ours
      vs the naive way (pydicom ``dcmread`` + ``pixel_array`` per file + ``numpy.stack``);
  (b) one reformatted plane -> PNG, cold (a different plane each time, the window table
      cache cleared before each), axial / coronal / sagittal; baseline: the same plane
      cut from the volume, windowed with float arithmetic and saved by Pillow's PNG;
  (c) scrolling: consecutive coronal planes rendered one after the other, planes/s;
  (d) a thick-slab MIP (11 planes) coronal plane.
Key figures go to the results folder (bench/results.py).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.results import Results  # noqa: E402
from uploads.dicom import render  # noqa: E402
from uploads.dicom.mpr import plane_layout, plane_values, render_plane  # noqa: E402
from uploads.dicom.volume import load_volume  # noqa: E402

GE_CT = REPO.parent / "shared" / "dicom" / "dcm_qa_ct" / "GE"


def synthetic_ct(count: int) -> list[bytes]:
    """``count`` axial slices as DICOM file bytes (see the module docstring)."""
    sources = sorted(GE_CT.glob("*.dcm"))
    if not sources:
        print("../shared/dicom absent: using pydicom's CT_small.dcm (128x128)")
        sources = [Path(str(pydicom.data.get_testdata_file("CT_small.dcm")))]
    slices = [pydicom.dcmread(p) for p in sources]
    slices.sort(key=lambda ds: float(ds.get("SliceLocation", 0) or 0))
    spacing = float(slices[0].PixelSpacing[0])
    gap = spacing * slices[0].Rows / count  # a coronal plane comes out square
    files = []
    for k in range(count):
        ds = slices[k % len(slices)].copy()
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, k * gap]
        ds.SliceLocation = k * gap
        ds.InstanceNumber = k + 1
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files.append(buffer.getvalue())
    return files


def stats(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[
        min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))
    ]


def row(label: str, figures: tuple[float, float], extra: str = "") -> None:
    print(f"  {label:<52} median {figures[0]:9.2f} ms   p95 {figures[1]:9.2f} ms  {extra}")


def naive_load(files: list[bytes]) -> np.ndarray:
    return np.stack([pydicom.dcmread(io.BytesIO(f)).pixel_array for f in files])


def naive_plane(volume_data: np.ndarray, index: int, slope: float, intercept: float) -> bytes:
    plane = volume_data[::-1, index, :].astype(np.float32) * slope + intercept
    grey = (np.clip((plane - 40 + 200) / 400, 0, 1) * 255).astype(np.uint8)
    image = Image.fromarray(grey).resize((plane.shape[1], 512), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5, help="volume loads")
    parser.add_argument("--planes", type=int, default=100, help="planes per measurement")
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}, load average (1 min) {os.getloadavg()[0]:.2f}")
    files = synthetic_ct(args.slices)
    print(f"series: {len(files)} files of {len(files[0]) // 1024} KB")

    print(f"\n(a) volume load, {len(files)} slices ({args.rounds} rounds)")
    ours, naive = [], []
    volume = None
    for _ in range(args.rounds):  # interleaved: both see the same machine load
        start = time.perf_counter()
        volume = load_volume(files)
        ours.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        naive_load(files)
        naive.append((time.perf_counter() - start) * 1000)
    assert volume is not None
    load_ours, load_naive = stats(ours), stats(naive)
    row("ours: bytes -> volume", load_ours, f"shape {volume.shape}")
    row("naive: dcmread + pixel_array + np.stack", load_naive)
    print(f"  ratio naive/ours: {load_naive[0] / load_ours[0]:.2f}")

    print(f"\n(b) one plane -> PNG, cold ({args.planes} different planes each)")
    cold: dict[str, tuple[float, float]] = {}
    for plane in ("axial", "coronal", "sagittal"):
        layout = plane_layout(volume, plane)
        # Planes through the middle half of the volume (the edges are air: cheap PNGs).
        indices = np.linspace(layout.count // 4, 3 * layout.count // 4, args.planes).astype(int)
        times, sizes = [], []
        for index in indices:
            render._window_table.cache_clear()
            start = time.perf_counter()
            png = render_plane(volume, plane, int(index))
            times.append((time.perf_counter() - start) * 1000)
            sizes.append(len(png))
        cold[plane] = stats(times)
        size = f"median {statistics.median(sizes) / 1024:.0f} KB"
        row(f"ours: {plane} ({layout.width}x{layout.height})", cold[plane], size)
    layout = plane_layout(volume, "coronal")
    base_times = []
    for index in np.linspace(layout.count // 4, 3 * layout.count // 4, args.planes).astype(int):
        start = time.perf_counter()
        naive_plane(volume.data, int(index), volume.slope, volume.intercept)
        base_times.append((time.perf_counter() - start) * 1000)
    baseline = stats(base_times)
    row("naive: coronal, float window + Pillow PNG", baseline)
    print(f"  ratio naive/ours (coronal): {baseline[0] / cold['coronal'][0]:.2f}")
    values = plane_values(volume, layout, layout.count // 2)
    print(f"  (the coronal plane before resampling: {values.shape[1]}x{values.shape[0]})")

    print(f"\n(c) scrolling: {args.planes} consecutive coronal planes")
    start = time.perf_counter()
    first = layout.count // 2 - args.planes // 2
    for index in range(first, first + args.planes):
        render_plane(volume, "coronal", index)
    elapsed = time.perf_counter() - start
    rate = args.planes / elapsed
    print(f"  {rate:.0f} planes/s ({elapsed * 1000 / args.planes:.2f} ms each)")

    print("\n(d) thick-slab MIP, 11 planes, coronal")
    times = []
    for index in np.linspace(10, layout.count - 11, 30).astype(int):
        start = time.perf_counter()
        render_plane(volume, "coronal", int(index), slab=11)
        times.append((time.perf_counter() - start) * 1000)
    mip = stats(times)
    row("ours: MIP 11 planes -> PNG", mip)

    table = Results("mpr")
    table.add(f"MPR volume load, {len(files)} slices", load_ours[0], "ms",
              baseline=load_naive[0], baseline_name="pydicom pixel_array + np.stack")  # fmt: skip
    for plane, figures in cold.items():
        coronal = plane == "coronal"
        table.add(f"MPR {plane} plane -> PNG, cold", figures[0], "ms",
                  baseline=baseline[0] if coronal else None,
                  baseline_name="float window + Pillow PNG" if coronal else "")  # fmt: skip
    table.add("MPR coronal scrolling", rate, "planes/s")
    table.add("MPR coronal MIP 11 planes -> PNG", mip[0], "ms")
    table.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
