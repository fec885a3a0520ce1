"""CPU time per process group, read from /proc (Linux), to see where a benchmark's
CPU goes: the web workers, the Celery worker, PostgreSQL, Redis and the client itself.

Only the bench's own processes count (the machine may run other stacks): descendants of
the given root processes (the Procfile runner, the bench's redis-server) and the
PostgreSQL backends connected to the bench's database (its name is in their command line).
"""

from __future__ import annotations

import os
from pathlib import Path

GROUPS = {
    "gunicorn": lambda cmd: "gunicorn" in cmd,
    "celery worker": lambda cmd: "celery" in cmd and " worker" in cmd,
    "postgres": lambda cmd: cmd.startswith("postgres"),
    "redis": lambda cmd: cmd.startswith("redis-server") or "redis-server" in cmd,
}
TICK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """Seconds all CPUs spent busy (not idle, not waiting for I/O), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, CPU seconds) of every process now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        seconds = (int(fields[11]) + int(fields[12])) / TICK
        found[int(entry.name)] = (int(fields[1]), cmd.strip(), seconds)
    return found


def snapshot(scope: dict[str, object]) -> dict[str, float]:
    """Seconds of CPU used so far by each group of the bench's processes (``scope``:
    {"roots": pids, "database": name}), this process as "client", and the whole machine's
    busy time as "machine" (everything, other users of the machine included)."""
    roots = set(scope["roots"])  # type: ignore[call-overload]
    database = f" {scope['database']} "
    totals = dict.fromkeys([*GROUPS, "client"], 0.0)
    totals["machine"] = machine_busy()
    processes = _processes()

    def ours(pid: int) -> bool:
        for _ in range(64):
            if pid in roots:
                return True
            if pid not in processes or pid <= 1:
                return False
            pid = processes[pid][0]
        return False

    for pid, (_, cmd, seconds) in processes.items():
        if pid == os.getpid():
            totals["client"] += seconds
        elif (cmd.startswith("postgres") and database in cmd) or ours(pid):
            for group, match in GROUPS.items():
                if match(cmd):
                    totals[group] += seconds
                    break
    return totals


def per_item_ms(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    return {group: (after[group] - before[group]) * 1000 / items for group in before}
