"""Issue, check and revoke personal API tokens; read ``Authorization: Bearer``.

Settings: ``API_TOKEN_DEFAULT_DAYS`` (90) and ``API_TOKEN_MAX_DAYS`` (365).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from portal.apitokens.models import ApiToken

#: Every personal token starts with this, so logs can mask it (``portal/redact.py``) and
#: a Bearer value can be told from a share link's token.
PREFIX = "dwp_"
PREFIX_SHOWN = len(PREFIX) + 6
#: How often ``last_used_at`` is written for a busy token (a viewer sends many requests).
TOUCH_SECONDS = 60


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def default_days() -> int:
    return int(settings.API_TOKEN_DEFAULT_DAYS)


def max_days() -> int:
    return int(settings.API_TOKEN_MAX_DAYS)


def issue(owner: Any, *, name: str = "", days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for ``owner`` valid ``days`` (1 to ``API_TOKEN_MAX_DAYS``); returns the
    row and the token, which is never shown again."""
    days = default_days() if days is None else days
    if not 1 <= days <= max_days():
        raise ValueError(f"a token is valid for 1 to {max_days()} days")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        owner=owner,
        name=name.strip()[:100],
        prefix=token[:PREFIX_SHOWN],
        token_hash=hash_token(token),
        expires_at=timezone.now() + timedelta(days=days),
    )
    return row, token


def revoke(row: ApiToken) -> bool:
    """Revoke (idempotent); True if it was not revoked until now."""
    return bool(
        ApiToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def bearer(request: HttpRequest) -> str | None:
    """The credential of an ``Authorization: Bearer`` header; "" for a malformed one,
    None when there is no such header."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return value.strip()


def check(token: str) -> ApiToken | None:
    """The active token (not revoked, not expired, its owner active), or None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = (
        ApiToken.objects.select_related("owner")
        .filter(token_hash=hash_token(token), revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if row is None or row.expires_at <= now or not row.owner.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=TOUCH_SECONDS):
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row
