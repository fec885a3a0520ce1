"""Short-lived capability tokens for slice PNGs.

The manifest (permission-checked) gives a signed-in reader one token per image: an HMAC of
(instance, reader, expiry) under a key derived from SECRET_KEY. A slice request carrying a
valid token is served from the PNG cache without loading the session, the user or the
study: that is what makes a cached slice cost about a millisecond. The cost is that a
reader who loses access (e.g. a study reassigned away from a radiologist) can still fetch
the slices named in a manifest they already had for at most ``SLICE_TOKEN_SECONDS``.
Share-link holders get no tokens: their access is checked on every request, so a revoked
link stops at once. A request without a valid token takes the full permission check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from functools import cache

from django.conf import settings


@cache
def _key() -> bytes:
    return hashlib.sha256(b"portal.slice-token\x00" + settings.SECRET_KEY.encode()).digest()


def _mac(instance_id: int, reader: int, expires: int, tag: str) -> str:
    message = f"{instance_id}:{reader}:{expires}:{tag}".encode()
    digest = hmac.new(_key(), message, hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def make(instance_id: int, reader: int, tag: str, now: float | None = None) -> str:
    """A token letting user ``reader`` fetch slices of ``instance_id`` for a while.

    ``tag`` names the instance's stored file (``uploads.viewer.rendering.file_tag``); it travels in
    the token so the PNG cache key is known without the database.
    """
    expires = int((now or time.time()) + settings.SLICE_TOKEN_SECONDS)
    return f"{reader}.{expires}.{tag}.{_mac(instance_id, reader, expires, tag)}"


def check(token: str, instance_id: int, now: float | None = None) -> str | None:
    """The file tag when ``token`` was issued for ``instance_id`` and has not expired."""
    try:
        reader_text, expires_text, tag, mac = token.split(".", 3)
        reader, expires = int(reader_text), int(expires_text)
    except ValueError:
        return None
    if expires < (now or time.time()):
        return None
    return tag if hmac.compare_digest(mac, _mac(instance_id, reader, expires, tag)) else None
