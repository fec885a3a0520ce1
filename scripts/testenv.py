"""Run a command (the test suite) with the local services it can reach.

``make test`` calls this. For each service that is reachable on 127.0.0.1 and not
already configured, it sets the variable (``DATABASE_URL``, ``REDIS_URL``) and says
so; for each that is missing it says what is skipped and how to enable it.
With ``CI=true`` the suite itself refuses to skip for a missing service.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: testenv.py -- COMMAND ...", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    env = dict(os.environ)
    lines = []
    if not env.get("DATABASE_URL") and reachable(5432):
        env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/portal"
    if env.get("DATABASE_URL", "").startswith("postgres"):
        lines.append(f"PostgreSQL: on ({env['DATABASE_URL']})")
    else:
        lines.append(
            "PostgreSQL: OFF - tests run on SQLite; PostgreSQL-only tests are skipped "
            "(start PostgreSQL on 127.0.0.1:5432 or set DATABASE_URL to enable them)"
        )
    if not env.get("REDIS_URL") and reachable(6379):
        env["REDIS_URL"] = "redis://127.0.0.1:6379/1"
    if env.get("REDIS_URL"):
        lines.append(f"Redis + Celery worker tests: on ({env['REDIS_URL']})")
        # Nothing cached by an earlier run (rate-limit counters, slices) leaks into this one.
        env.setdefault("CACHE_KEY_PREFIX", f"test-{os.getpid()}")
    else:
        lines.append(
            "Redis: OFF - Redis and real-worker tests are skipped "
            "(start redis-server on 127.0.0.1:6379 or set REDIS_URL)"
        )
    chromium = env.get("CHROMIUM", "/usr/bin/chromium")
    if shutil.which(chromium) or os.path.exists(chromium):
        lines.append(f"Browser tests: on ({chromium})")
    else:
        lines.append(
            "Chromium: OFF - browser tests are skipped (apt-get install chromium, "
            "or set CHROMIUM to its path)"
        )
    print("== test services ==\n  " + "\n  ".join(lines), flush=True)
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
