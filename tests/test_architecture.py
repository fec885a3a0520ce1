"""The shape of the code (docs/architecture.md), read from the source with ``ast``:

- no import cycle between the project's modules (function-level imports included);
- the core of ``uploads/`` does not import its parts; a part imports from another part
  only what that part declares public (``PUBLIC`` in its ``__init__.py``);
- ``portal/`` holds no study or reporting code: it imports neither ``uploads`` nor
  ``reports``;
- ``uploads/`` top level holds at most 12 modules;
- an upload goes from the browser request to the stored file through at most 6 modules,
  each importing the next, as docs/architecture.md draws it.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "reports", "uploads", "dicomweb", "pacs")
PARTS = ("intake", "viewer", "sharing")  # under uploads/; uploads/dicom is the engine


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(REPO).with_suffix("").parts)
    return name.removesuffix(".__init__")


def project_modules(root: Path = REPO) -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


def resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module that ``target`` (a module or a name in one) refers to."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module the file imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES and (module := resolve(target, modules)):
                found.add(module)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph = {name: imports_of(path, modules) for name, path in modules.items()}
    for name, targets in graph.items():  # a package's own __init__ is not an edge
        targets.discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def part_of(module: str) -> str | None:
    """``intake``, ``viewer`` or ``sharing`` for a module of that part, else None."""
    pieces = module.split(".")
    if len(pieces) >= 2 and pieces[0] == "uploads" and pieces[1] in PARTS:
        return pieces[1]
    return None


def public_modules(part: str) -> set[str]:
    """The part's ``PUBLIC`` tuple, read from its ``__init__.py`` without importing it."""
    tree = ast.parse((REPO / "uploads" / part / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PUBLIC" for t in node.targets
        ):
            return {f"uploads.{part}.{name}" for name in ast.literal_eval(node.value)}
    return set()


def is_entry_point(module: str) -> bool:
    """Django finds commands only in ``uploads/management/commands``: each is the command
    line of one part and may use that part's modules (as its urls.py does)."""
    return module.startswith("uploads.management.")


def boundary_violations(graph: dict[str, set[str]]) -> set[str]:
    public = {part: public_modules(part) for part in PARTS}
    found = set()
    for module, targets in graph.items():
        for target in targets:
            owner, theirs = part_of(module), part_of(target)
            if theirs is None or owner == theirs or is_entry_point(module):
                continue
            if module.startswith("uploads.") and owner is None:
                found.add(f"{module} (core) imports the part module {target}")
            elif target not in public[theirs] and target != f"uploads.{theirs}":
                found.add(f"{module} imports {target}, internal to uploads/{theirs}")
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(project_modules())


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    assert len(graph) > 100
    assert cycles(graph) == []


def test_parts_import_only_what_other_parts_declare_public(graph: dict[str, set[str]]) -> None:
    for part in PARTS:
        assert public_modules(part), f"uploads/{part}/__init__.py declares no PUBLIC modules"
        assert all(name in graph for name in public_modules(part)), part
    assert boundary_violations(graph) == set()


def test_portal_holds_no_study_or_reporting_code(graph: dict[str, set[str]]) -> None:
    offenders = {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith("portal")
        for target in targets
        if target.split(".")[0] in ("uploads", "reports")
    }
    assert offenders == set()


def test_uploads_top_level_is_small() -> None:
    top = sorted(path.name for path in (REPO / "uploads").glob("*.py"))
    assert len(top) <= 12, top


#: The path of an upload in docs/architecture.md, each module importing the next.
UPLOAD_PATH = [
    "uploads.intake.api",  # the browser's request
    "uploads.intake.receive",  # registered, quota, quarantine, queued
    "uploads.intake.tasks",  # the Celery task
    "uploads.intake.ingest",  # checked, de-identified (the engine), indexed
    "uploads.storage",  # stored under a name the server makes
]


def test_an_upload_reaches_storage_through_at_most_six_modules(
    graph: dict[str, set[str]],
) -> None:
    assert len(UPLOAD_PATH) <= 6
    for module, following in itertools.pairwise(UPLOAD_PATH):
        assert following in graph[module], f"{module} does not lead to {following}"
    docs = (REPO / "docs" / "architecture.md").read_text()
    for module in UPLOAD_PATH:
        assert module.replace(".", "/") + ".py" in docs, module


# -- the checks can fail ----------------------------------------------------------------------


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_a_boundary_crossing_is_found(graph: dict[str, set[str]]) -> None:
    crossed = {name: set(targets) for name, targets in graph.items()}
    crossed["uploads.sharing.exports"].add("uploads.intake.ingest")  # internal to intake
    crossed["uploads.views"].add("uploads.viewer.rendering")  # the core using a part
    crossed["uploads.sharing.cohort"].add("uploads.intake.keys")  # public: allowed
    assert boundary_violations(crossed) == {
        "uploads.sharing.exports imports uploads.intake.ingest, internal to uploads/intake",
        "uploads.views (core) imports the part module uploads.viewer.rendering",
    }


def test_function_level_imports_count(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from uploads.intake import ingest\n    import reports.tasks\n")
    modules = {"uploads.intake.ingest": source, "reports.tasks": source}
    assert imports_of(source, modules) == {"uploads.intake.ingest", "reports.tasks"}
