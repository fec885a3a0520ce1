"""Benchmark: burned-in text — detection time per frame, recall and precision on a
labelled set, and how much non-identifying text stays readable; Presidio in the same run
when it is installed.

Run: ``.venv/bin/python bench/bench_burned_in.py [--rounds N]``

Labelled set: real pydicom images (ultrasound RGB native and JPEG 2000, palette-colour
ultrasound, a 30-frame JPEG ultrasound cine) with text burned in by
``tests/dicom/burn.py``: per image a name, a patient ID and a birth date that the header
repeats (identifying), and labels such as a probe ("C5-1"), a preset ("ABD"), "MI 0.8",
"12 cm" (not identifying). US1 also carries its institution ("BAPTIST MED CTR"), burned in
by the scanner, which is labelled identifying too.

* time: :func:`uploads.dicom.pixels.detect_text` on one 640×480 ultrasound frame (median);
* recall: identifying items whose box is at least 80 % masked after cleaning;
* precision: share of the changed (masked) pixels that lie on an identifying item
  (its box widened by 4 pixels);
* labels kept: non-identifying items with no masked pixel (left as readable as before).

Presidio (``presidio-image-redactor``'s ``DicomImageRedactorEngine``, Tesseract + NER +
header values) is timed and scored the same way when importable — its redacted area is
where its pixels changed — else the bench says "peer not installed". It is not a
dependency of the portal.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.pixels import pixel_array

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import Results  # noqa: E402
from tests.dicom.burn import Burned, burn  # noqa: E402
from uploads.dicom.clean import deidentify_and_clean  # noqa: E402
from uploads.dicom.pixels import detect_text, display_frames, identifying_words  # noqa: E402

LABELS = [
    ("DOE^JOHN", True),
    ("4711-0815", True),
    ("05/03/1971", True),
    ("C5-1", False),
    ("ABD", False),
    ("MI 0.8", False),
    ("12 cm", False),
]
#: (file, positions of LABELS, or None for the default corners)
US_PLACES = [(20, 370), (20, 388), (20, 406), (560, 340), (560, 358), (470, 376), (470, 394)]
OB_PLACES = [(20, 520), (20, 540), (20, 560), (640, 520), (640, 540), (640, 560), (500, 580)]
CINE_PLACES = [(4, 4), (4, 20), (4, 36), (250, 4), (250, 20), (250, 36), (250, 52)]
SET = [
    ("US1_UNCR.dcm", US_PLACES),
    ("US1_J2KR.dcm", US_PLACES),
    ("OBXXXX1A.dcm", OB_PLACES),
    ("examples_ybr_color.dcm", CINE_PLACES),
]
#: Text the scanner burned into US1 itself (x, y, w, h), identifying (its institution).
REAL = {"US1_UNCR.dcm": [(17, 23, 154, 18)], "US1_J2KR.dcm": [(17, 23, 154, 18)]}
KEY = b"bench-burned-in"


def items(name: str, burned: Burned) -> list[tuple[bool, tuple[int, int, int, int]]]:
    drawn = [(ident, (x, y, w, h)) for _, ident, x, y, w, h in burned.placed]
    return drawn + [(True, box) for box in REAL.get(name, [])]


Truth = list[tuple[bool, tuple[int, int, int, int]]]


def score(
    cases: list[tuple[np.ndarray, np.ndarray, np.ndarray]], labelled: list[Truth]
) -> tuple[float, float, float]:
    """(recall, precision, labels kept) over the set. Each case: (text pixels, pixels the
    cleaning changed, pixels it changed that were text). An item is removed when at least
    80 % of its text pixels changed, kept when none did."""
    found = total = kept = labels = hits = areas = 0
    for (text, changed_px, _), truth in zip(cases, labelled, strict=True):
        ident_mask = np.zeros_like(changed_px)
        for ident, (x, y, w, h) in truth:
            box = (slice(y, y + h), slice(x, x + w))
            on_text = text[box]
            share = float(changed_px[box][on_text].mean()) if on_text.any() else 0.0
            if ident:
                total += 1
                found += share >= 0.8
                ident_mask[max(0, y - 4) : y + h + 4, max(0, x - 4) : x + w + 4] = True
            else:
                labels += 1
                kept += not changed_px[box][on_text].any()
        hits += int((changed_px & ident_mask).sum())
        areas += int(changed_px.sum())
    return found / max(total, 1), hits / max(areas, 1), kept / max(labels, 1)


def first_frame(ds: object) -> np.ndarray:
    arr = pixel_array(ds, index=0, as_rgb=True)  # type: ignore[arg-type]
    return arr.astype(np.int64)


def changed(before: np.ndarray, after: np.ndarray, tolerance: int = 0) -> np.ndarray:
    diff = np.abs(before - after) > tolerance
    return diff.any(axis=-1) if diff.ndim == 3 else diff


def text_pixels(name: str, burned: np.ndarray) -> np.ndarray:
    """Where text was drawn (a JPEG re-encode moves every pixel a little: tolerance 60),
    plus the bright pixels of the text the scanner burned in itself."""
    from tests.dicom.conftest import sample_bytes

    text = changed(first_frame(dcmread(io.BytesIO(sample_bytes(name)))), burned, 60)
    luma = burned.mean(axis=-1) if burned.ndim == 3 else burned
    for x, y, w, h in REAL.get(name, []):
        text[y : y + h, x : x + w] |= luma[y : y + h, x : x + w] > 128
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    results = Results("burned_in")
    burned = {name: burn(name, positions, LABELS) for name, positions in SET}
    labelled = [items(name, burned[name]) for name, _ in SET]

    # detection time per frame: one 640x480 ultrasound frame
    us = dcmread(io.BytesIO(burned["US1_UNCR.dcm"].data))
    words = identifying_words(us)
    (_, frame), *_ = display_frames(us, 1)
    detect_text(frame, words)  # warm up
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        detect_text(frame, words)
        times.append(time.perf_counter() - start)
    per_frame = statistics.median(times)
    print(f"detect_text, 640x480 US frame: {per_frame * 1e3:.0f} ms (median of {args.rounds})")

    masks, clean_times = [], []
    for name, _ in SET:
        data = burned[name].data
        start = time.perf_counter()
        done = deidentify_and_clean(data, key=KEY, uid_root="2.25.1")
        clean_times.append(time.perf_counter() - start)
        before = first_frame(dcmread(io.BytesIO(data)))
        after = first_frame(dcmread(io.BytesIO(done.data)))
        masks.append((text_pixels(name, before), changed(before, after), before))
    recall, precision, kept = score(masks, labelled)
    per_image = statistics.median(clean_times)
    print(f"portal: recall {recall:.2f}, precision {precision:.2f}, labels kept {kept:.2f}, "
          f"{per_image:.2f} s per image (de-identify + clean + re-check)")  # fmt: skip

    peer = presidio(burned, labelled)
    if peer is None:
        print("Presidio: peer not installed (pip install presidio-image-redactor to compare)")
    else:
        p_time, p_recall, p_precision, p_kept, failures = peer
        print(f"Presidio: recall {p_recall:.2f}, precision {p_precision:.2f}, labels kept "
              f"{p_kept:.2f}, {p_time:.2f} s per image, {failures} image(s) failed")  # fmt: skip
    note = "peer not installed" if peer is None else "Presidio in the same run"
    results.add("burned-in text: detection per 640x480 US frame", per_frame * 1e3, "ms",
                baseline=None if peer is None else peer[0] * 1e3,
                baseline_name="Presidio per image", note=note)  # fmt: skip
    results.add("burned-in text: recall of identifying items", recall, "share",
                baseline=None if peer is None else peer[1], baseline_name="Presidio")  # fmt: skip
    results.add("burned-in text: precision (masked pixels on identifying text)", precision, "share",
                baseline=None if peer is None else peer[2], baseline_name="Presidio")  # fmt: skip
    results.add("burned-in text: non-identifying labels left readable", kept, "share",
                baseline=None if peer is None else peer[3], baseline_name="Presidio")  # fmt: skip
    results.save()
    return 0


def presidio(
    burned: dict[str, Burned], labelled: list[Truth]
) -> tuple[float, float, float, float, int] | None:
    """Presidio's DicomImageRedactorEngine on the same set, when installed."""
    try:
        from presidio_image_redactor import DicomImageRedactorEngine
    except ImportError:
        return None
    engine = DicomImageRedactorEngine()
    masks, times, failures = [], [], 0
    for name, _ in SET:
        ds = dcmread(io.BytesIO(burned[name].data))
        before = first_frame(ds)
        start = time.perf_counter()
        try:
            out = engine.redact(ds, fill="contrast", use_metadata=True)
            after = first_frame(out)
        except Exception:  # e.g. multi-frame: counted as a failure, nothing redacted
            failures += 1
            after = before
        times.append(time.perf_counter() - start)
        masks.append((text_pixels(name, before), changed(before, after), before))
    recall, precision, kept = score(masks, labelled)
    return statistics.median(times), recall, precision, kept, failures


if __name__ == "__main__":
    sys.exit(main())
