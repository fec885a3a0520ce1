"""``python -m tests.slow_worker ARGS``: ``celery ARGS`` with every file's ingest slowed
down by ``INGEST_TEST_DELAY`` seconds, so a fault-injection test can kill a worker in the
middle of a batch. Test-only: production code has no such switch (``start_worker`` in
``tests/conftest.py`` uses this when a test asks for the delay)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from uploads.intake import ingest

    delay = float(os.environ["INGEST_TEST_DELAY"])
    prepare = ingest.prepare

    def slow_prepare(*args: Any) -> Any:
        time.sleep(delay)
        return prepare(*args)

    ingest.prepare = slow_prepare
    from celery.__main__ import main as celery

    sys.argv[0] = "celery"
    celery()


if __name__ == "__main__":
    main()
