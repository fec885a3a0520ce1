"""The load benchmark (bench/bench_load.py), small, as a test: slow, so not in `make test`
(run with --run-slow or RUN_SLOW=1). The full run's figures are in docs/reliability.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LOAD_GROUP, REPO

pytestmark = [pytest.mark.slow, pytest.mark.services, LOAD_GROUP]


def test_small_load_has_no_errors_and_loses_no_files(
    require_postgres: None, require_redis: str, tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env["BENCH_RESULTS"] = str(tmp_path)  # its figures, not into the checkout's data/
    result = subprocess.run(
        [sys.executable, "bench/bench_load.py", "--uploaders", "8", "--viewers", "4",
         "--viewer-requests", "5", "--duration", "90"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK (0 errors, 0 lost files)" in result.stdout
    assert "files sent 32, stored 32, lost 0" in result.stdout
    assert (tmp_path / "load.json").exists()
