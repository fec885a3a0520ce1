"""``multipart/related`` (RFC 2387) bodies for WADO-RS answers and STOW-RS requests, and
the parsing of ``Accept`` and ``Content-Type`` values."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dicomweb.access import Invalid

_PARAM = re.compile(r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)')


@dataclass(frozen=True)
class Media:
    """One media range of an ``Accept`` header or a ``Content-Type``."""

    type: str
    params: dict[str, str]
    q: float = 1.0

    def param(self, name: str) -> str:
        return self.params.get(name, "")


def parse_media(value: str) -> Media:
    head, _, rest = value.partition(";")
    params = {
        key.lower(): raw.strip('"') for key, raw in _PARAM.findall(";" + rest if rest else "")
    }
    try:
        q = float(params.pop("q", "1") or 1)
    except ValueError:
        q = 1.0
    return Media(head.strip().lower(), params, q)


def split_accept(header: str) -> list[str]:
    """Split on the commas that are outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def accepted(header: str | None) -> list[Media]:
    """The media ranges of an ``Accept`` header, best first (``*/*`` when there is none)."""
    if not header:
        return [Media("*/*", {})]
    ranges = [parse_media(part) for part in split_accept(header)]
    return sorted((m for m in ranges if m.q > 0), key=lambda m: -m.q)


def new_boundary() -> str:
    return uuid.uuid4().hex


def content_type(part_type: str, boundary: str, transfer_syntax: str = "") -> str:
    extra = f"; transfer-syntax={transfer_syntax}" if transfer_syntax else ""
    return f'multipart/related; type="{part_type}"; boundary={boundary}{extra}'


def stream(parts: Iterable[tuple[bytes, str]], boundary: str) -> Iterator[bytes]:
    """The body: each (bytes, part Content-Type), then the closing delimiter."""
    for data, part_type in parts:
        yield f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode()
        yield data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def parse(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart body: (headers in lower case, content)."""
    if not boundary or len(boundary) > 70:
        raise Invalid("multipart/related needs a boundary parameter (1 to 70 characters)")
    delimiter = b"--" + boundary.encode("latin-1")
    pieces = body.split(delimiter)
    if len(pieces) < 3:
        raise Invalid("the body holds no part delimited by the boundary")
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):  # the close delimiter
            break
        piece = piece.removeprefix(b"\r\n")
        head, sep, content = piece.partition(b"\r\n\r\n")
        if not sep:
            head, content = b"", piece.removeprefix(b"\r\n")  # a part without headers
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        parts.append((headers, content.removesuffix(b"\r\n")))
    return parts
