"""In-process import: ``manage.py import_dicom`` of the 28-file CT series copied COPIES
times (a new study, series and SOP Instance UID for each copy: 500+ files) into a fresh
PostgreSQL database and local storage in a temp folder, with the bench's own Redis.

Timed inside the Django process (``call_command``), so Django's start-up is not counted;
next to it, the floor in this process: read each file from disk, pydicom ``dcmread`` and
``save_as`` to a file in a temp folder. Rounds alternate the order of the two; medians of
ROUNDS (after one warm-up round). Goal in issue 16: >= 300 files/s.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.results import Results
from bench.stackutil import BENCH_USER, BenchError, fresh_portal, manage, median, series_files

ROUNDS = 3
COPIES = 18  # 28 files x 18 = 504
GOAL = 300.0

# Run inside `manage.py shell`: the import, timed around call_command only.
TIMED_IMPORT = """
import io, json, time
from django.core.management import call_command
out = io.StringIO()
t0 = time.perf_counter()
call_command("import_dicom", {folder!r}, owner={owner!r}, stdout=out)
elapsed = time.perf_counter() - t0
stored = sum(json.loads(line)["instances_stored"] for line in out.getvalue().splitlines())
print("TIMED", elapsed, stored)
"""


def make_copies(series: list[bytes], folder: Path) -> int:
    """Write COPIES copies of the series to ``folder``, each a new study; the count."""
    folder.mkdir(parents=True)
    count = 0
    for copy in range(COPIES):
        study, series_uid = generate_uid(), generate_uid()
        for data in series:
            ds = pydicom.dcmread(io.BytesIO(data))
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(folder / f"{copy:03d}-{count:05d}.dcm", enforce_file_format=True)
            count += 1
    return count


def floor_seconds(folder: Path, out: Path) -> float:
    """pydicom read (from disk) + write (to disk) of every file in ``folder``."""
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(io.BytesIO(path.read_bytes()))
        ds.save_as(out / path.name)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(out)
    return elapsed


def import_seconds(env: dict[str, str], folder: Path, expected: int) -> float:
    code = TIMED_IMPORT.format(folder=str(folder), owner=BENCH_USER)
    lines = manage(env, "shell", "--no-imports", "-c", code, timeout=600).splitlines()
    timed = [line.split() for line in lines if line.startswith("TIMED ")]
    if not timed:
        raise BenchError(f"import_dicom printed no timing: {lines[-5:]}")
    elapsed, stored = float(timed[-1][1]), int(timed[-1][2])
    if stored != expected:
        raise BenchError(f"import_dicom stored {stored} of {expected} files")
    return elapsed


def main() -> int:
    label, paths = series_files()
    series = [p.read_bytes() for p in paths]
    print(f"series: {label}: {len(series)} files x {COPIES} copies, {ROUNDS} rounds + warm-up")
    imports: list[float] = []
    floors: list[float] = []
    with fresh_portal() as portal, tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        for round_no in range(ROUNDS + 1):
            folder = Path(tmp) / f"round{round_no}"
            n = make_copies(series, folder)
            megabytes = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
            # Alternate the order so that a busy spell on the machine hits both alike.
            if round_no % 2:
                floor = floor_seconds(folder, Path(tmp) / "floor")
                elapsed = import_seconds(portal["env"], folder, n)
            else:
                elapsed = import_seconds(portal["env"], folder, n)
                floor = floor_seconds(folder, Path(tmp) / "floor")
            shutil.rmtree(folder)
            name = "warm-up" if round_no == 0 else f"round {round_no}"
            print(f"  {name}: import {n} files ({megabytes:.0f} MB) in {elapsed:.2f} s = "
                  f"{n / elapsed:.0f} files/s; floor {n / floor:.0f} files/s")  # fmt: skip
            if round_no:
                imports.append(n / elapsed)
                floors.append(n / floor)
    rate, floor_rate = median(imports), median(floors)
    ratios = median([f / i for i, f in zip(imports, floors, strict=True)])
    print(f"import_dicom, median of {ROUNDS}: {rate:.0f} files/s; pydicom read+write floor "
          f"{floor_rate:.0f} files/s; import time / floor time {ratios:.1f}x")  # fmt: skip
    print(f"goal >= {GOAL:.0f} files/s: {'met' if rate >= GOAL else 'NOT met'}")
    results = Results("import")
    results.add(f"import_dicom in process ({n} files)", rate, "files/s",
                baseline=floor_rate, baseline_name="pydicom read+write (disk)",
                note=f"goal >= {GOAL:.0f} files/s")  # fmt: skip
    results.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
