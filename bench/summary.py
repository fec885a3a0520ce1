"""The last step of ``make bench``: one table of the key figures every bench script wrote
to the results folder (``$BENCH_RESULTS``, else ``data/bench/``): the portal's value, the
baseline measured in the same run (a floor or a naive tool) and Orthanc's (empty when
Orthanc is not installed), each with the ratio portal / other. Printed as Markdown.

    python bench/summary.py [FOLDER]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.results import folder as default_folder

ORDER = ["ingest", "import", "render", "viewer", "deid", "browser_deid", "load"]


def number(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(value: float | None, other: float | None) -> str:
    if value is None or not other:
        return ""
    return f"{value / other:.2f}x"


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | portal | unit | baseline (same run) | portal / baseline | Orthanc "
        "| portal / Orthanc |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for row in run["rows"]:
            base = row.get("baseline")
            base_text = f"{number(base)} {row.get('baseline_name', '')}".strip() if base else ""
            orthanc = row.get("orthanc")
            name = row["name"] + (f" ({row['note']})" if row.get("note") else "")
            lines.append(
                f"| {name} | {number(row['value'])} | {row['unit']} | {base_text} "
                f"| {ratio(row['value'], base)} | {number(orthanc) if orthanc else ''} "
                f"| {ratio(row['value'], orthanc)} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    where = Path(argv[1]) if len(argv) > 1 else default_folder()
    files = sorted(where.glob("*.json")) if where.is_dir() else []
    if not files:
        print(f"no results in {where}: run the bench scripts first (make bench)")
        return 1
    runs = [json.loads(path.read_text()) for path in files]
    runs.sort(key=lambda r: ORDER.index(r["script"]) if r["script"] in ORDER else 99)
    dates = sorted(run["date"] for run in runs)
    print(f"\n== summary: {len(runs)} benchmarks, {dates[0]} to {dates[-1]}, {runs[0]['machine']}")
    print("(ratios are value / value: for files/s higher is better, for ms lower)\n")
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
