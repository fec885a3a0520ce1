"""The embedded default's SQLite is safe with several writing processes (issue 14).

``make run`` has a web process and worker processes writing to one SQLite file. With
SQLite's default deferred transactions, a transaction that reads and then writes (the
ingest claim, a batch that looks up instances before inserting) while another holds the
write lock fails at once with "database is locked": the busy timeout does not help, as
waiting could deadlock. The settings take the write lock at BEGIN (IMMEDIATE) and use
WAL, so writers queue and readers go on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db.utils import ConnectionHandler, OperationalError

from tests.conftest import REPO


def embedded_database(data_dir: Path) -> dict[str, Any]:
    """DATABASES["default"] as the settings module builds it with no DATABASE_URL."""
    drop = {"DATABASE_URL", "SQLITE_BUSY_SECONDS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="portal.settings")
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default']))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def connect(config: dict[str, Any]) -> Any:
    return ConnectionHandler({"default": config})["default"]


def begin(config: dict[str, Any]) -> str:
    """How Django starts a transaction with these settings (``BEGIN [mode]``)."""
    return f"BEGIN {config.get('OPTIONS', {}).get('transaction_mode') or ''}".strip()


@pytest.fixture
def own_database(django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():  # its own SQLite file, not the test database
        yield


@pytest.mark.usefixtures("own_database")
def test_a_transaction_that_reads_then_writes_waits_instead_of_failing(tmp_path: Path) -> None:
    config = embedded_database(tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    setup = connect(config)
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE files (id INTEGER PRIMARY KEY, attempts INTEGER)")
        cursor.execute("INSERT INTO files VALUES (1, 0), (2, 0)")
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    setup.close()

    read, wrote = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def claim() -> None:  # like ingest.claim: look at the files, then count the attempt
        db = connect(config)
        try:
            with db.cursor() as cursor:
                cursor.execute(begin(config))
                cursor.execute("SELECT id FROM files WHERE attempts = 0")
                cursor.fetchall()
                read.set()
                wrote.wait(2)  # another process has written meanwhile (or waits for us)
                cursor.execute("UPDATE files SET attempts = attempts + 1 WHERE id = 1")
                cursor.execute("COMMIT")
        except OperationalError as exc:
            errors.append(exc)
        finally:
            db.close()

    def write() -> None:  # a request or another worker's batch
        db = connect(config)
        try:
            read.wait(5)
            with db.cursor() as cursor:
                cursor.execute(begin(config))
                cursor.execute("UPDATE files SET attempts = attempts + 1 WHERE id = 2")
                wrote.set()
                time.sleep(0.3)
                cursor.execute("COMMIT")
        except OperationalError as exc:
            errors.append(exc)
        finally:
            wrote.set()
            db.close()

    threads = [threading.Thread(target=claim), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors  # deferred transactions: "database is locked" here
    check = connect(config)
    with check.cursor() as cursor:
        cursor.execute("SELECT attempts FROM files ORDER BY id")
        assert [row[0] for row in cursor.fetchall()] == [1, 1]
    check.close()
