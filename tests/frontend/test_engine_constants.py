"""The browser's copy of the engine rules is generated from the Python engine and current.

``frontend/src/generated/engine-constants.js`` is rendered from
``uploads.dicom.constants.engine_constants()`` by ``frontend/build.mjs`` and committed (a
build without Python bundles it as it is). A stale file fails here, and the browser
modules that read it are checked to apply the same rules as the server engine.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO
from uploads.dicom import constants
from uploads.dicom import profile as prof
from uploads.dicom.deidentify import DeidOptions

NODE = shutil.which("node")
GENERATED = REPO / constants.GENERATED_JS
SRC = REPO / "frontend" / "src"
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def node_module(script: str, stdin: str = "") -> Any:
    """Run an ES module script with Node (imports as file URLs); its stdout as JSON."""
    done = subprocess.run(
        [str(NODE), "--no-warnings", "--input-type=module", "-e", script],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_generated_module_is_current() -> None:
    assert GENERATED.exists(), f"{GENERATED} is missing: run `npm run build`"
    assert GENERATED.read_text(encoding="utf-8") == constants.render_js(), (
        f"{constants.GENERATED_JS} is stale: run `npm run build` (or `make install`) and commit it"
    )


def test_check_command_agrees() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uploads.dicom.constants", "--check", str(GENERATED)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@needs_node
def test_generated_module_evaluates_to_engine_constants() -> None:
    script = (
        f"import ENGINE from {json.dumps(GENERATED.as_uri())};\n"
        "if (!Object.isFrozen(ENGINE.zip_limits)) throw new Error('not frozen');\n"
        "process.stdout.write(JSON.stringify(ENGINE));\n"
    )
    assert node_module(script) == constants.engine_constants()


@needs_node
def test_browser_zip_limits_are_the_engine_limits() -> None:
    script = (
        f"import {{ ZIP_LIMITS }} from {json.dumps((SRC / 'files.js').as_uri())};\n"
        "process.stdout.write(JSON.stringify(ZIP_LIMITS));\n"
    )
    assert node_module(script) == {
        "maxEntries": constants.MAX_ARCHIVE_ENTRIES,
        "maxTotalBytes": constants.BROWSER_MAX_TOTAL_UNCOMPRESSED,
        "maxEntryBytes": constants.MAX_ENTRY_SIZE,
        "maxRatio": constants.MAX_COMPRESSION_RATIO,
        "ratioMinSize": constants.RATIO_CHECK_MIN_SIZE,
        "maxDepth": constants.MAX_ZIP_DEPTH,
    }


def option_column_sets() -> list[list[str]]:
    """The Table E.1-1 columns of every combination of the engine's options."""
    names = DeidOptions.option_names()
    return [
        sorted(DeidOptions.from_names(chosen).profile_columns())
        for size in range(len(names) + 1)
        for chosen in itertools.combinations(names, size)
    ]


@needs_node
def test_browser_resolves_every_row_like_the_server() -> None:
    """effectiveAction (deid-engine.js) interprets the same data as profile.effective_action:
    every row of the table under every combination of options."""
    table = json.loads(prof.PROFILE_PATH.read_text(encoding="utf-8"))
    column_sets = option_column_sets()
    script = (
        f"import {{ effectiveAction }} from {json.dumps((SRC / 'deid-engine.js').as_uri())};\n"
        "import { readFileSync } from 'node:fs';\n"
        "const { rows, columnSets } = JSON.parse(readFileSync(0, 'utf-8'));\n"
        "process.stdout.write(JSON.stringify(columnSets.map(\n"
        "  (columns) => rows.map((row) => effectiveAction(row, columns)))));\n"
    )
    browser = node_module(script, json.dumps({"rows": table["rows"], "columnSets": column_sets}))
    rows = prof.load_profile().rows
    server = [[prof.effective_action(row, columns) for row in rows] for columns in column_sets]
    assert len(browser) == len(column_sets) == 2 ** len(DeidOptions.option_names())
    assert browser == server
