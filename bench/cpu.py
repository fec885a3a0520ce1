"""CPU time per process group, read from /proc (Linux), to see where a benchmark's
CPU goes: the web workers, the Celery worker, PostgreSQL, Redis and the client itself."""

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


def _cpu(pid: str) -> float:
    """User + system seconds of one process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> float:
    """Seconds all CPUs spent busy (not idle, not waiting for I/O), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def snapshot() -> dict[str, float]:
    """Seconds of CPU used so far by each group, this process as "client", and the whole
    machine's busy time as "machine" (everything, e.g. the log relay, included)."""
    totals = dict.fromkeys([*GROUPS, "client"], 0.0)
    totals["machine"] = machine_busy()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            seconds = _cpu(entry.name)
        except OSError:  # the process ended meanwhile
            continue
        if entry.name == str(os.getpid()):
            totals["client"] += seconds
            continue
        for group, match in GROUPS.items():
            if match(cmd.strip()):
                totals[group] += seconds
                break
    return totals


def per_item_ms(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    return {group: (after[group] - before[group]) * 1000 / items for group in before}
