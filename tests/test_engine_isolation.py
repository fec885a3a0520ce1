"""The DICOM engine (uploads/dicom) must not import Django or Celery."""

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "uploads" / "dicom"
FORBIDDEN = ("django", "celery", "kombu", "portal", "reports")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engine_has_no_framework_imports() -> None:
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) >= 2
    offenders = {
        f"{path.relative_to(ENGINE)}: {name}"
        for path in files
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
        or (name.startswith("uploads.") and not name.startswith("uploads.dicom"))
    }
    assert offenders == set()


def test_isolation_check_catches_a_django_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from django.conf import settings\nimport celery.app\n")
    assert imported_modules(bad) == {"django.conf", "celery.app"}
