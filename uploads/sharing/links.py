"""Share links: creation, revocation, opening, throttling of failed attempts.

A link ``/s/<token>/`` carries a random token (``secrets.token_urlsafe(32)``); only its
SHA-256 is stored. Opening a valid link (after the passcode, if any) stores a *grant* —
the link's id — in the session; what a grant lets its holder reach, and the check of
grants on every request, are in :mod:`uploads.permissions`.

Settings: ``SHARE_LINK_DEFAULT_DAYS`` (14), ``SHARE_LINK_MAX_DAYS`` (90),
``SHARE_LINK_MAX_FAILURES`` (10 failed attempts — unknown tokens, wrong passcodes — per
client IP address), ``SHARE_PASSCODE_MAX_FAILURES`` (5 wrong passcodes per link and client
address) and ``SHARE_LINK_LOCKOUT_SECONDS`` (900).

Failures are counted per client, never per link alone: whoever else holds the token and
guesses cannot lock the real reviewer out, and a session that already opened the link
(holds its grant) opens it again without a check. Passcodes have at least
:data:`PASSCODE_MIN_LENGTH` characters, so the few guesses a client gets do not find one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.db.models import F
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import Role
from portal.audit.log import client_ip, record
from uploads.models import TRIAL_CHOICES, ShareLink, Study, VerdictKind

#: Shortest passcode a link may have.
PASSCODE_MIN_LENGTH = 8


# -- settings --------------------------------------------------------------------------------


def default_days() -> int:
    return int(settings.SHARE_LINK_DEFAULT_DAYS)


def max_days() -> int:
    return int(settings.SHARE_LINK_MAX_DAYS)


def max_failures() -> int:
    """Failed attempts (any link, unknown tokens) allowed per client IP in a window."""
    return int(settings.SHARE_LINK_MAX_FAILURES)


def passcode_max_failures() -> int:
    """Wrong passcodes allowed per (link, client IP) in a window."""
    return int(settings.SHARE_PASSCODE_MAX_FAILURES)


def lockout_seconds() -> int:
    return int(settings.SHARE_LINK_LOCKOUT_SECONDS)


# -- tokens and links ------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def share_url(token: str) -> str:
    """The full URL of a link (shown once, when it is created)."""
    return settings.SITE_URL.rstrip("/") + reverse("share-open", args=[token])


def can_manage(user: Any, study: Study) -> bool:
    """Only the study's owner and admins create, list and revoke its share links."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(study.owner_id == user.pk or user.role == Role.ADMIN)


def create_link(
    request: HttpRequest,
    study: Study,
    *,
    days: int,
    passcode: str = "",
    allow_download: bool = False,
    label: str = "",
    verdict_kind: str = VerdictKind.OPINION,
    choices: list[str] | None = None,
) -> tuple[ShareLink, str]:
    """Create a link valid for `days` (1 to ``SHARE_LINK_MAX_DAYS``); returns it and its token.

    ``verdict_kind`` says what the reviewer may answer; ``choices`` are the labels of own
    choices (checked by ``verdicts.parse_choices``).
    """
    if not 1 <= days <= max_days():
        raise ValueError(f"a link is valid for 1 to {max_days()} days")
    if verdict_kind not in VerdictKind.values:
        raise ValueError(f"unknown verdict kind {verdict_kind!r}")
    if verdict_kind == VerdictKind.CUSTOM and not choices:
        raise ValueError("own choices need their labels")
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        study=study,
        created_by_id=request.user.pk,
        token_hash=hash_token(token),
        label=label[:100],
        expires_at=timezone.now() + timedelta(days=days),
        passcode_hash=make_password(passcode) if passcode else "",
        allow_download=allow_download,
        verdict_kind=verdict_kind,
        verdict_choices=choices_for(verdict_kind, choices),
    )
    record(request, "share.created", link, study=study.pk, days=days,
           passcode=bool(passcode), download=allow_download, kind=verdict_kind)  # fmt: skip
    return link, token


def choices_for(kind: str, custom: list[str] | None = None) -> list[str]:
    """The labels a link of `kind` offers (``custom`` for own choices, else none)."""
    if kind == VerdictKind.TRIAL:
        return list(TRIAL_CHOICES)
    if kind == VerdictKind.CUSTOM:
        return list(custom or [])
    return []


def revoke(request: HttpRequest, link: ShareLink) -> bool:
    """Revoke the link (idempotent); True if it was active until now."""
    updated = ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by_id=request.user.pk
    )
    if updated:
        record(request, "share.revoked", link, study=link.study_id)
    return bool(updated)


def find_link(token: str) -> ShareLink | None:
    if not token or len(token) > 128:
        return None
    return ShareLink.objects.select_related("study").filter(token_hash=hash_token(token)).first()


def check_passcode(link: ShareLink, passcode: str) -> bool:
    return bool(link.passcode_hash) and check_password(passcode, link.passcode_hash)


# -- audit of link use -----------------------------------------------------------------------


def record_open(request: HttpRequest, link: ShareLink) -> None:
    now = timezone.now()
    ShareLink.objects.filter(pk=link.pk).update(open_count=F("open_count") + 1, last_opened_at=now)
    record(request, "share.opened", link, study=link.study_id)


# -- throttling of failed attempts -----------------------------------------------------------


def _ip_key(ip: str | None) -> str:
    return f"share-fail:ip:{ip or 'unknown'}"


def _link_key(link: ShareLink, ip: str | None) -> str:
    # By the token's hash, not the id: ids come again after a database is recreated.
    return f"share-fail:link:{link.token_hash[:40]}:{ip or 'unknown'}"


def _bump(key: str) -> None:
    if cache.add(key, 1, lockout_seconds()):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, lockout_seconds())


def is_throttled(request: HttpRequest, link: ShareLink | None = None) -> bool:
    """Too many failed attempts from this client: from its IP address on any link (unknown
    tokens, wrong passcodes), or wrong passcodes on ``link`` from it. Other clients'
    failures never count."""
    ip = client_ip(request)
    if int(cache.get(_ip_key(ip), 0)) >= max_failures():
        return True
    return link is not None and int(cache.get(_link_key(link, ip), 0)) >= passcode_max_failures()


def record_failure(request: HttpRequest, link: ShareLink | None = None) -> None:
    """Count a failure of this client (on ``link``, for a wrong passcode)."""
    ip = client_ip(request)
    _bump(_ip_key(ip))
    if link is not None:
        _bump(_link_key(link, ip))


def reset_throttle(ip: str | None) -> None:
    """Forget an address's failures (tests, support)."""
    cache.delete(_ip_key(ip))
