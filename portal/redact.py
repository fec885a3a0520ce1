"""Secret tokens out of log lines.

Some URLs carry a capability: share links ``/s/<token>/``, the viewer's slice tokens
``?t=<token>``, and the emailed links ``/password-reset|verify|invite/<uid>/<token>/``;
personal API tokens (``dwp_…``) and ``Bearer`` credentials wherever they appear. The
database keeps only hashes of them, so a log line with one in clear would be the weakest
copy. The OpenID Connect callback's ``?code=…&state=…`` are masked too (single use, but a
code is a credential until it is redeemed). :func:`redact` masks them, also URL-encoded
(in a ``next=`` parameter the login redirect builds); :class:`RedactTokens` applies it to
log records. ``portal/settings.py`` puts that filter on Django's loggers and handlers,
``portal/gunicorn_conf.py`` on gunicorn's access and error logs.
"""

from __future__ import annotations

import logging
import re

MASK = "[redacted]"

_SLASH = r"(?:/|%2[fF])"
_SEGMENT = r"[^/?#&;\s\"'%]+"  # one path segment or parameter value, up to an encoded char
_PATTERNS = [
    # Share links: /s/<token>
    re.compile(rf"({_SLASH}s{_SLASH}){_SEGMENT}"),
    # Emailed links: /password-reset/<uid>/<token>, /verify/…, /invite/…
    re.compile(rf"({_SLASH}(?:password-reset|verify|invite){_SLASH}{_SEGMENT}{_SLASH}){_SEGMENT}"),
    # Slice tokens: ?t=<token> or &t=<token>
    re.compile(rf"((?:[?&;]|%3[fF]|%26)t(?:=|%3[dD])){_SEGMENT}"),
    # OpenID Connect callback: ?code=<authorization code>&state=<state>
    re.compile(rf"((?:[?&;]|%3[fF]|%26)(?:code|state)(?:=|%3[dD])){_SEGMENT}"),
    # Personal API tokens (portal/apitokens), wherever they appear, and any Bearer value
    # (a share link's token sent to /dicomweb/)
    re.compile(r"(\bdwp_)[A-Za-z0-9_-]+"),
    re.compile(r"(\b[Bb]earer\s+)[^\s\"',;]+"),
]


def redact(text: str) -> str:
    """``text`` with every token of the kinds above replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{MASK}", text)
    return text


class RedactTokens(logging.Filter):
    """A logging filter that rewrites a record's message with tokens redacted.

    The record is changed in place (``msg`` becomes the final text, ``args`` empty), so
    every handler after it, and every formatter, sees only the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it itself, nothing to redact
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
