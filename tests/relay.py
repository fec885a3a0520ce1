"""A byte relay between TCP and UNIX sockets, to join network namespaces (tests/hosts.py).

    python -m tests.relay LISTEN=CONNECT [LISTEN=CONNECT ...]

with ``tcp:HOST:PORT`` or ``unix:PATH`` on either side. A UNIX socket is a file, visible in
every network namespace, so a relay inside a host's namespace (listening on its loopback)
and one outside (connecting to the shared service) pass a connection through. Prints
"ready" once every listener is bound.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from typing import Any


def address(spec: str) -> tuple[int, Any]:
    kind, _, rest = spec.partition(":")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return socket.AF_INET, (host, int(port))
    if kind == "unix":
        return socket.AF_UNIX, rest
    raise ValueError(spec)


class Pair:
    """Two connected sockets, closed when both directions have ended."""

    def __init__(self, a: socket.socket, b: socket.socket) -> None:
        self.sockets = (a, b)
        self.open = 2
        self.lock = threading.Lock()

    def pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(262144):
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with self.lock:
            self.open -= 1
            done = self.open == 0
        if done:
            for sock in self.sockets:
                sock.close()


def serve(server: socket.socket, connect: str) -> None:
    family, target = address(connect)
    while True:
        client, _ = server.accept()
        upstream = socket.socket(family, socket.SOCK_STREAM)
        try:
            upstream.connect(target)
        except OSError:
            client.close()
            upstream.close()
            continue
        pair = Pair(client, upstream)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=pair.pipe, args=(src, dst), daemon=True).start()


def main(specs: list[str]) -> None:
    threads = []
    for spec in specs:
        listen, _, connect = spec.partition("=")
        family, where = address(listen)
        server = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            if os.path.exists(where):
                os.unlink(where)
        else:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(where)
        server.listen(256)
        threads.append(threading.Thread(target=serve, args=(server, connect), daemon=True))
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main(sys.argv[1:])
