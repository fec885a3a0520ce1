"""A tiny Procfile runner: ``python scripts/procs.py Procfile``.

Starts every ``name: command`` line of the file as a child process, prefixes its
output with the name, and stops all of them when one exits or on Ctrl-C/SIGTERM.
``python`` at the start of a command means this interpreter (the venv's), and
``$VAR`` / ``${VAR:-default}`` are expanded from the environment.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def expand(command: str) -> str:
    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2) or ""
        return os.environ.get(name) or default

    command = re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", repl, command)
    return os.path.expandvars(command)


def parse(path: Path) -> list[tuple[str, list[str]]]:
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, command = line.partition(":")
        argv = shlex.split(expand(command.strip()))
        if argv and argv[0] == "python":
            argv[0] = sys.executable
        elif argv and (Path(sys.executable).parent / argv[0]).exists():
            argv[0] = str(Path(sys.executable).parent / argv[0])
        entries.append((name.strip(), argv))
    return entries


def pump(name: str, stream: object) -> None:
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        sys.stdout.write(f"{name:>7} | {raw.decode(errors='replace')}")
        sys.stdout.flush()


def main(argv: list[str]) -> int:
    procfile = Path(argv[1] if len(argv) > 1 else "Procfile")
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, command in parse(procfile):
        print(f"{name:>7} | starting: {' '.join(command)}", flush=True)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=pump, args=(name, proc.stdout), daemon=True).start()
        children.append((name, proc))
    code = 0
    while not stopping.is_set():
        for name, proc in children:
            if proc.poll() is not None:
                print(f"{name:>7} | exited with {proc.returncode}; stopping all", flush=True)
                code = proc.returncode or 1
                stopping.set()
        time.sleep(0.2)
    for _, proc in children:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 15
    for _, proc in children:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
