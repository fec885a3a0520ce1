"""Compile the translation catalogues ``locale/<lang>/LC_MESSAGES/*.po`` to ``.mo``.

Pure Python (polib), so neither a developer nor CI needs GNU gettext's ``msgfmt``; the
``.mo`` files are committed, and ``tests/test_i18n.py`` checks that they say what the
``.po`` files say. Fuzzy and untranslated entries are left out: gettext then shows the
English text. Run it after editing a ``.po`` file (docs/i18n.md)::

    .venv/bin/python scripts/compilemessages.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parent.parent / "locale"


def catalogues(root: Path = LOCALE) -> list[Path]:
    """Every ``.po`` file under ``root``, sorted."""
    return sorted(root.glob("*/LC_MESSAGES/*.po"))


def compile_all(root: Path = LOCALE) -> list[Path]:
    """Write each ``.po`` file's ``.mo`` beside it; returns the ``.mo`` paths."""
    written = []
    for po_path in catalogues(root):
        mo_path = po_path.with_suffix(".mo")
        polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
        written.append(mo_path)
    return written


def main() -> int:
    for path in compile_all():
        print(path.relative_to(LOCALE.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
