"""uploads/dicom/constants.py: the one definition of the engine's rules, as JSON data."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from tests.conftest import REPO
from uploads.dicom import constants, sources, uids
from uploads.dicom.deidentify import DeidOptions

MODULE = REPO / "uploads" / "dicom" / "constants.py"


def test_standard_library_only() -> None:
    """Any Python can render the browser's module: no pydicom, numpy, Django."""
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)


def test_json_data() -> None:
    data = constants.engine_constants()
    assert json.loads(json.dumps(data)) == data


def test_prints_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uploads.dicom.constants"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert json.loads(done.stdout) == constants.engine_constants()


def test_option_order_is_the_options_declaration_order() -> None:
    assert tuple(constants.OPTION_INFO) == DeidOptions.option_names()
    columns = {column for column, _, _ in constants.OPTION_INFO.values()}
    assert set(constants.OPTION_CODE_MEANINGS) <= columns


def test_resolution_orders_every_effective_action_it_can_meet() -> None:
    translated = {
        code for meanings in constants.OPTION_CODE_MEANINGS.values() for code in meanings.values()
    }
    assert {"X", "C", "K"} | translated == set(constants.PROTECTIVE_ORDER)


def test_engine_modules_use_the_definitions() -> None:
    assert sources.Limits().max_entries == constants.MAX_ARCHIVE_ENTRIES
    assert sources.Limits().max_total == constants.MAX_TOTAL_UNCOMPRESSED
    assert constants.BROWSER_MAX_TOTAL_UNCOMPRESSED <= constants.MAX_TOTAL_UNCOMPRESSED
    assert constants.MESSAGES["dicomdir"] == sources.DICOMDIR_REASON
    pseudonym = uids.patient_pseudonym("id:1", key=b"k")
    assert pseudonym.startswith(constants.PSEUDONYM_PREFIX)
    assert len(pseudonym) == len(constants.PSEUDONYM_PREFIX) + constants.PSEUDONYM_LENGTH
    assert -constants.MAX_SHIFT_DAYS <= uids.date_shift_days("id:1", key=b"k") <= -1
