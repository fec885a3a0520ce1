"""Benchmark: server-side render of one 512x512 CT slice to PNG.

Run: ``.venv/bin/python bench/bench_render.py [--iterations N] [--file PATH]``

Prints median and p95 (ms) for
  (a) our cold render: read the file's bytes -> decode -> LUTs -> PNG, with the window
      table cache cleared before every call (truly cold) and with it warm (scrolling
      through a series with one window);
  (b) naive pydicom + matplotlib (dcmread, pixel_array, ``plt.imsave``; and a Figure
      ``savefig``), skipped when matplotlib is not installed;
  (c) naive pydicom + Pillow (dcmread, pixel_array, min-max scale to uint8,
      ``Image.save`` PNG with default settings);
  (d) the PNG-encode-only floor for the same 512x512 uint8 image with our encoder;
  (e) a table of PNG encoders: Pillow ``compress_level`` 0-9 and the hand-rolled writer
      with filter None/Sub/Up x zlib (and ISA-L, when installed) levels: ms and bytes;
then the ratios of the baselines to our render; and
  (f) against Orthanc (bench/orthanc.py, when installed): our cold render and the naive
      pydicom + Pillow render of the CT slice and of a 1024x1024 JPEG 2000 MR
      (pydicom-data's MR2_J2KR.dcm), interleaved with Orthanc's
      ``GET /instances/{id}/rendered`` of the same files (its time includes the loopback
      HTTP round trip);
  (g) the 1024² JPEG 2000 MR into a 512-pixel viewport: full decode + resize (baseline)
      vs the reduced-resolution-level render vs Orthanc's ``/rendered`` (if installed).
Key figures go to the results folder (bench/results.py) for bench/summary.py.

Data: ``../shared/dicom/dcm_qa_ct/GE/14.dcm`` beside the repository (a real GE head CT,
512x512, signed 16-bit, window 35/100); falls back to pydicom's 128x128 ``CT_small.dcm``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.orthanc import orthanc  # noqa: E402
from bench.results import Results  # noqa: E402
from uploads.dicom import png, render  # noqa: E402
from uploads.dicom.render import PRESETS, RenderRequest, render_array, render_png  # noqa: E402

GE_SLICE = REPO.parent / "shared" / "dicom" / "dcm_qa_ct" / "GE" / "14.dcm"


def measure(fn: Callable[[], Any], iterations: int, warmup: int = 3) -> tuple[float, float]:
    """Return (median, p95) wall time in ms over `iterations` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95


def row(label: str, stats: tuple[float, float], extra: str = "") -> None:
    print(f"  {label:<58} median {stats[0]:8.3f} ms   p95 {stats[1]:8.3f} ms  {extra}")


def pillow_png(img: np.ndarray, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", "-n", type=int, default=200, help="render iterations")
    parser.add_argument("--peer-rounds", type=int, default=15, help="rounds of (f)")
    parser.add_argument("--file", type=Path, help="DICOM file (default: the GE CT slice)")
    parser.add_argument("--rounds", type=int, default=15, help="J2K viewport rounds")
    parser.add_argument("--skip-j2k", action="store_true", help="skip the J2K viewport bench")
    args = parser.parse_args()
    n = max(args.iterations, 50)

    path = args.file or GE_SLICE
    if not path.exists():
        fallback = pydicom.data.get_testdata_file("CT_small.dcm", download=False)
        print(f"{path} not found; using pydicom's CT_small.dcm (128x128)")
        path = Path(str(fallback))
    ds = pydicom.dcmread(path)
    print(f"file: {path} ({ds.Columns}x{ds.Rows}, {ds.file_meta.TransferSyntaxUID.name})")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pydicom "
        f"{pydicom.__version__}, Pillow {Image.__version__}, cores {os.cpu_count()}, "
        f"PNG zlib backend: {png.ZLIB_BACKEND}"
    )

    load = os.getloadavg()[0]
    print(f"load average (1 min): {load:.2f}")
    if load > 0.5:
        print("  warning: the machine is busy; timings will be inflated and noisy")

    results: dict[str, tuple[float, float]] = {}

    print(f"\n(a) our render, read bytes -> PNG ({n} iterations)")

    def ours_cold() -> bytes:
        render._window_table.cache_clear()
        return render_png(path.read_bytes()).png

    def ours_warm() -> bytes:
        return render_png(path.read_bytes()).png

    def ours_cold_stdlib() -> bytes:
        render._window_table.cache_clear()
        rendered = render._render(path.read_bytes(), RenderRequest())
        return png.encode_png(rendered.pixels, compress=png.compress_stdlib)

    results["ours"] = measure(ours_cold, n)
    row(f"cold (no caches), {png.ZLIB_BACKEND} level 1, filter Up", results["ours"])
    results["ours_warm"] = measure(ours_warm, n)
    row("warm window table (next slice, same window)", results["ours_warm"])
    if png.ZLIB_BACKEND != "zlib":
        results["ours_stdlib"] = measure(ours_cold_stdlib, n)
        row("cold, standard-library zlib level 1 (without isal)", results["ours_stdlib"])
    result = render_png(path.read_bytes())
    print(
        f"  -> {result.width}x{result.height} {result.mode}, {len(result.png)} bytes, "
        f"window {result.window_used}"
    )

    print("\n(b) naive pydicom + matplotlib")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure
    except ImportError:
        print("  skipped: matplotlib is not installed (pip install matplotlib)")
    else:

        def mpl_imsave() -> bytes:
            arr = pydicom.dcmread(path).pixel_array
            buffer = io.BytesIO()
            plt.imsave(buffer, arr, cmap="gray", format="png")
            return buffer.getvalue()

        def mpl_figure() -> bytes:
            arr = pydicom.dcmread(path).pixel_array
            fig = Figure(figsize=(arr.shape[1] / 100, arr.shape[0] / 100), dpi=100)
            ax = fig.add_axes((0, 0, 1, 1))
            ax.imshow(arr, cmap="gray")
            ax.set_axis_off()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png")
            return buffer.getvalue()

        results["mpl_imsave"] = measure(mpl_imsave, 50)
        row(
            f"dcmread + pixel_array + plt.imsave (matplotlib {matplotlib.__version__})",
            results["mpl_imsave"],
        )
        results["mpl_figure"] = measure(mpl_figure, 50)
        row("dcmread + pixel_array + Figure.imshow + savefig", results["mpl_figure"])

    print("\n(c) naive pydicom + Pillow")

    def naive_pillow() -> bytes:
        arr = pydicom.dcmread(path).pixel_array.astype(np.float64)
        lo, hi = arr.min(), arr.max()
        img = ((arr - lo) / max(hi - lo, 1) * 255).astype(np.uint8)
        return pillow_png(img)

    results["pillow"] = measure(naive_pillow, 50)
    row("dcmread + pixel_array + min-max uint8 + Image.save(PNG)", results["pillow"])

    image = render_array(path.read_bytes())
    print("\n(d) PNG-encode-only floor, same 512x512 uint8 image")
    results["encode"] = measure(lambda: png.encode_png(image), n)
    row(
        f"encode_png ({png.ZLIB_BACKEND}, level 1, filter Up)",
        results["encode"],
        f"{len(png.encode_png(image))} bytes",
    )

    print("\n(e) PNG encoders (median ms / bytes); images: file window, lung window")
    lung = render_array(path.read_bytes(), RenderRequest(window=PRESETS["lung"]))
    encoders: list[tuple[str, Callable[[np.ndarray], bytes]]] = []
    for level in range(10):
        encoders.append(
            (
                f"Pillow compress_level={level}" + (" (Pillow default 6)" if level == 6 else ""),
                lambda im, lv=level: pillow_png(im, compress_level=lv),
            )
        )
    encoders.append(("Pillow optimize=True", lambda im: pillow_png(im, optimize=True)))
    backends: list[tuple[str, Callable[[bytes, int], bytes], list[int]]] = [
        ("zlib", png.compress_stdlib, [0, 1, 2, 3, 6, 9])
    ]
    try:
        from isal import isal_zlib

        backends.append(("isal", lambda d, lv: isal_zlib.compress(d, lv), [0, 1, 2, 3]))
    except ImportError:
        print("  (isal not installed: ISA-L rows skipped)")
    names = {png.FILTER_NONE: "None", png.FILTER_SUB: "Sub", png.FILTER_UP: "Up"}
    for backend, compress, levels in backends:
        for filt in (png.FILTER_NONE, png.FILTER_SUB, png.FILTER_UP):
            for level in levels:
                encoders.append(
                    (
                        f"hand-rolled {backend} level {level}, filter {names[filt]}",
                        lambda im, c=compress, lv=level, f=filt: png.encode_png(
                            im, level=lv, filter_type=f, compress=c
                        ),
                    )
                )
    print(f"  {'encoder':<44} {'window ms':>10} {'bytes':>9} {'lung ms':>10} {'bytes':>9}")
    for label, encode in encoders:
        slow = "level=9" in label or "optimize" in label
        reps = 10 if slow else 30
        a, _ = measure(lambda e=encode: e(image), reps, warmup=1)
        b, _ = measure(lambda e=encode: e(lung), reps, warmup=1)
        chosen = (
            "  <- chosen" if label == (f"hand-rolled {png.ZLIB_BACKEND} level 1, filter Up") else ""
        )
        print(
            f"  {label:<44} {a:10.3f} {len(encode(image)):9d} {b:10.3f} "
            f"{len(encode(lung)):9d}{chosen}"
        )
    zlib_version = zlib.ZLIB_RUNTIME_VERSION
    print(f"  (zlib {zlib_version})")

    print("\nratios (baseline median / our cold median)")
    ours = results["ours"][0]
    for key, label in (
        ("mpl_imsave", "pydicom + matplotlib imsave"),
        ("mpl_figure", "pydicom + matplotlib Figure.savefig"),
        ("pillow", "pydicom + Pillow default PNG"),
        ("ours_stdlib", "ours with stdlib zlib"),
    ):
        if key in results:
            print(f"  {label:<40} {results[key][0] / ours:6.1f}x")
    print(f"  {'PNG encode share of our cold render':<40} {results['encode'][0] / ours:6.0%}")
    target = 4.0
    verdict = "meets" if ours <= target else "MISSES"
    print(f"\ncold render median {ours:.2f} ms {verdict} the {target:.0f} ms target")
    figures = against_orthanc(path, max(3, args.peer_rounds))
    table = Results("render")
    for title, fig in figures.items():
        table.add(f"render cold, {title} -> PNG", fig["ours"], "ms",
                    baseline=fig["naive"], baseline_name="pydicom + Pillow",
                    orthanc=fig.get("orthanc"), note="Orthanc: /rendered over HTTP")  # fmt: skip
    if not args.skip_j2k:
        bench_j2k_viewport(args.rounds, table)
    table.save()
    return 0


def naive_render(data: bytes) -> bytes:
    arr = pydicom.dcmread(io.BytesIO(data)).pixel_array.astype(np.float64)
    lo, hi = arr.min(), arr.max()
    return pillow_png(((arr - lo) / max(hi - lo, 1) * 255).astype(np.uint8))


def against_orthanc(ct: Path, rounds: int) -> dict[str, dict[str, float]]:
    """(f): median ms of ours (cold), naive and Orthanc's /rendered, interleaved."""
    files = {"512x512 CT slice": ct}
    j2k = pydicom.data.get_testdata_file("MR2_J2KR.dcm")  # pydicom-data, 1024x1024 J2K
    if j2k:
        files["1024x1024 JPEG 2000 MR"] = Path(str(j2k))
    else:
        print("\n(f) MR2_J2KR.dcm not found (pip install pydicom-data): the J2K row is skipped")
    print(f"\n(f) against Orthanc, {rounds} interleaved rounds (median ms)")
    times: dict[str, dict[str, list[float]]] = {t: {} for t in files}
    with orthanc() as peer:
        ids = {t: peer.store(p.read_bytes())["ID"] for t, p in files.items()} if peer else {}

        def ours(data: bytes) -> bytes:
            render._window_table.cache_clear()
            return render_png(data).png

        for title, path in files.items():
            data = path.read_bytes()
            steps: dict[str, Callable[[], Any]] = {
                "ours": lambda d=data: ours(d), "naive": lambda d=data: naive_render(d),
            }  # fmt: skip
            if peer:
                steps["orthanc"] = lambda i=ids[title]: peer.rendered(i)
            for step in steps.values():  # warm-up
                step()
            for _ in range(rounds):
                for name, step in steps.items():
                    start = time.perf_counter()
                    step()
                    times[title].setdefault(name, []).append((time.perf_counter() - start) * 1e3)
    figures = {t: {k: statistics.median(v) for k, v in row.items()} for t, row in times.items()}
    for title, fig in figures.items():
        peer_text = "Orthanc: not run"
        if "orthanc" in fig:
            peer_text = f"Orthanc /rendered {fig['orthanc']:7.2f} ms"
        print(f"  {title:<24} ours {fig['ours']:7.2f} ms   naive pydicom + Pillow "
              f"{fig['naive']:7.2f} ms   {peer_text}")  # fmt: skip
    return figures


def bench_j2k_viewport(rounds: int, results: Results, viewport: int = 512) -> None:
    """(g) The 1024² JPEG 2000 MR (pydicom-data MR2_J2KR) into a 512-pixel viewport.

    Interleaved rounds, medians (ms): the old path (full decode + LUT + resize + PNG,
    the baseline), the reduced-level render (``render_png(size=512)``), and, when the
    Debian Orthanc (+ GDCM plugin) is installed, Orthanc's ``/instances/{id}/rendered``
    over loopback HTTP at 512 and at full size (ours is in-process: no HTTP).
    """
    from pydicom.data import get_testdata_file

    path = get_testdata_file("MR2_J2KR.dcm")
    if path is None:
        print("\n(g) MR2_J2KR.dcm not installed (pip install pydicom-data): skipped")
        return
    data = Path(path).read_bytes()

    def full_then_resize() -> bytes:
        img = render_array(data, RenderRequest())
        return png.encode_png(render._resize(img, viewport, viewport))

    def reduced() -> bytes:
        return render_png(data, RenderRequest(size=viewport)).png

    stored = render_png(data).png  # what pre-rendering keeps in derived storage

    cases: dict[str, Callable[[], Any]] = {
        "full decode + resize (baseline)": full_then_resize,
        "reduced-level decode (ours)": reduced,
        "shrink the pre-rendered PNG (ours)": lambda: png.downscale(stored, viewport),
    }
    with orthanc() as peer:
        if peer is not None:
            ident = peer.store(data)["ID"]
            cases["Orthanc /rendered?width=512&height=512"] = lambda: peer.rendered(
                ident, "?width=512&height=512"
            )
            cases["Orthanc /rendered (full 1024²)"] = lambda: peer.rendered(ident)
        times: dict[str, list[float]] = {label: [] for label in cases}
        for fn in cases.values():
            fn()  # warm-up
        for _ in range(rounds):
            for label, fn in cases.items():
                start = time.perf_counter()
                fn()
                times[label].append((time.perf_counter() - start) * 1000)
    print(f"\n(g) 1024² JPEG 2000 MR into a {viewport}-pixel viewport, {rounds} interleaved rounds")
    base = statistics.median(times["full decode + resize (baseline)"])
    for label, values in times.items():
        median = statistics.median(values)
        print(f"  {label:<44} median {median:8.1f} ms   baseline/this {base / median:5.2f}x")
    peer_label = "Orthanc /rendered?width=512&height=512"
    results.add(
        f"1024² JPEG 2000 MR into a {viewport}-px viewport, default window (pre-rendered)",
        statistics.median(times["shrink the pre-rendered PNG (ours)"]), "ms",
        baseline=base, baseline_name="full decode + resize",
        orthanc=statistics.median(times[peer_label]) if peer_label in times else None,
        note="ours: shrink the stored full-size PNG; Orthanc: /rendered over HTTP",
    )  # fmt: skip
    results.add(
        f"render 1024² JPEG 2000 MR into a {viewport}-px viewport",
        statistics.median(times["reduced-level decode (ours)"]), "ms",
        baseline=base, baseline_name="full decode + resize",
        orthanc=statistics.median(times[peer_label]) if peer_label in times else None,
        note="Orthanc: /rendered over HTTP",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
