"""Moving the test database between migration states, for tests of data migrations."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate the test database to ``targets``, with accounts at its latest (the users a
    test makes have today's columns, which later migrations of other apps add); return
    the models of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = [*targets, *executor.loader.graph.leaf_nodes("accounts")]
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def migrate_to_latest() -> None:
    """Every app at its latest migration (today's code reads the rows)."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
