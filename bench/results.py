"""Key figures of one benchmark run, one JSON file per script, for ``bench/summary.py``.

The folder is ``$BENCH_RESULTS`` (``make bench`` sets it), else ``data/bench/`` (git-ignored:
``/data/``). Each figure: what (name), the portal's value and unit, a baseline measured in
the same run (a floor, a naive tool) and Orthanc's value when it ran, with their ratios.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def folder() -> Path:
    return Path(os.environ.get("BENCH_RESULTS") or REPO / "data" / "bench")


class Results:
    """Collect figures with :meth:`add`, then :meth:`save` them as ``<script>.json``."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        name: str,
        value: float | None,
        unit: str,
        *,
        baseline: float | None = None,
        baseline_name: str = "",
        orthanc: float | None = None,
        note: str = "",
    ) -> None:
        self.rows.append(
            {
                "name": name,
                "value": value,
                "unit": unit,
                "baseline": baseline,
                "baseline_name": baseline_name,
                "orthanc": orthanc,
                "note": note,
            }
        )

    def save(self) -> Path:
        target = folder()
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{self.script}.json"
        payload = {
            "script": self.script,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
            "rows": self.rows,
        }
        path.write_text(json.dumps(payload, indent=2))
        print(f"(figures written to {path})")
        return path
