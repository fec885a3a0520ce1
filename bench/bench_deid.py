"""Benchmark: de-identification versus plain pydicom read + write of the same files.

Run: ``.venv/bin/python bench/bench_deid.py [--rounds N] [--key SECRET]``

Input: the real 28-slice GE CT series in ``../shared/dicom/dcm_qa_ct/GE`` (fallback: 20
copies of pydicom's CT_small.dcm). In the same run, interleaved file by file so that
machine noise hits both alike, it times

(a) the floor: ``dcmread`` from bytes + ``dcmwrite`` to a BytesIO (what any tool pays);
(b) :func:`uploads.dicom.deidentify.deidentify_bytes` (read + Annex E + write).

and prints medians over the rounds: ms/file, files/s, MB/s and the ratio (b)/(a)
(target <= 1.5). With ``gdcmanon`` installed it also times ``gdcmanon --dumb`` on the
folder (one process for all files, so it includes process start-up).
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.filewriter import dcmwrite

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import Results  # noqa: E402
from uploads.dicom.deidentify import DeidOptions, deidentify_bytes  # noqa: E402

SERIES = ROOT.parent / "shared" / "dicom" / "dcm_qa_ct" / "GE"
TARGET = 1.5


def inputs() -> tuple[str, list[bytes], Path | None]:
    files = sorted(SERIES.glob("*.dcm"))
    if files:
        return f"GE CT series ({len(files)} files)", [f.read_bytes() for f in files], SERIES
    ct = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
    return "20 copies of pydicom CT_small.dcm (shared/ absent)", [ct] * 20, None


def floor(data: bytes) -> None:
    ds = dcmread(io.BytesIO(data))
    dcmwrite(io.BytesIO(), ds, enforce_file_format=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--key", default="bench-key")
    args = parser.parse_args(argv)
    label, files, folder = inputs()
    key = args.key.encode()
    options = DeidOptions()
    megabytes = sum(len(d) for d in files) / 1e6
    for data in files[:3]:  # warm caches (profile compile, imports)
        floor(data)
        deidentify_bytes(data, key=key, options=options)

    floors: list[float] = []
    deids: list[float] = []
    clock = time.perf_counter
    for _ in range(args.rounds):
        a = b = 0.0
        for data in files:
            start = clock()
            floor(data)
            a += clock() - start
            start = clock()
            deidentify_bytes(data, key=key, options=options)
            b += clock() - start
        floors.append(a)
        deids.append(b)

    n = len(files)
    print(f"input: {label}, {megabytes:.1f} MB, {args.rounds} rounds (medians)")
    for name, runs in (("(a) pydicom read+write", floors), ("(b) deidentify_bytes  ", deids)):
        total = statistics.median(runs)
        print(
            f"{name}: {total / n * 1e3:7.2f} ms/file {n / total:8.1f} files/s "
            f"{megabytes / total:7.1f} MB/s"
        )
    ratios = [b / a for a, b in zip(floors, deids, strict=True)]
    ratio = statistics.median(ratios)
    verdict = "OK" if ratio <= TARGET else "ABOVE TARGET"
    print(f"ratio deid/floor: {ratio:.2f} (target <= {TARGET}) {verdict}")
    results = Results("deid")
    results.add("de-identify in process (read + Annex E + write)",
                statistics.median(deids) / n * 1e3, "ms/file",
                baseline=statistics.median(floors) / n * 1e3,
                baseline_name="pydicom read+write", note=f"target ratio <= {TARGET}")  # fmt: skip

    gdcmanon = shutil.which("gdcmanon")
    if gdcmanon and folder is not None:
        runs = []
        for _ in range(3):
            with tempfile.TemporaryDirectory() as out:
                start = clock()
                subprocess.run(
                    [
                        gdcmanon,
                        "--dumb",
                        "--remove",
                        "0010,0010",
                        "-r",
                        "-i",
                        str(folder),
                        "-o",
                        out,
                    ],
                    check=True,
                    capture_output=True,
                )
                runs.append(clock() - start)
        total = statistics.median(runs)
        print(f"(c) gdcmanon --dumb (one process, {n} files): {total / n * 1e3:7.2f} ms/file")
        results.add("gdcmanon --dumb, one process for the folder", None, "ms/file",
                    baseline=total / n * 1e3, baseline_name="gdcmanon")  # fmt: skip
    results.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
