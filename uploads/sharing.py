"""Share links: creation, revocation, the grant a link holder's session carries, throttling.

A link ``/s/<token>/`` carries a random token (``secrets.token_urlsafe(32)``); only its
SHA-256 is stored. Opening a valid link (after the passcode, if any) stores a *grant* —
the link's id — in the session. Every request re-validates the grants against the
database (:func:`granted_links`), so revoking a link or its expiry ends access at once.
A grant lets its holder use the viewer of exactly that study (page, manifest, slices,
attributes), read-only, and download exports when the link allows it.

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
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.db.models import F
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import Role
from portal.audit.log import client_ip, record
from uploads.models import Instance, ShareLink, Study
from uploads.permissions import can_view_study

SESSION_KEY = "share_grants"
#: Shortest passcode a link may have.
PASSCODE_MIN_LENGTH = 8
View = Callable[..., HttpResponseBase]


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
) -> tuple[ShareLink, str]:
    """Create a link valid for `days` (1 to ``SHARE_LINK_MAX_DAYS``); returns it and its token."""
    if not 1 <= days <= max_days():
        raise ValueError(f"a link is valid for 1 to {max_days()} days")
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        study=study,
        created_by_id=request.user.pk,
        token_hash=hash_token(token),
        label=label[:100],
        expires_at=timezone.now() + timedelta(days=days),
        passcode_hash=make_password(passcode) if passcode else "",
        allow_download=allow_download,
    )
    record(request, "share.created", link, study=study.pk, days=days,
           passcode=bool(passcode), download=allow_download)  # fmt: skip
    return link, token


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


# -- grants in the session -------------------------------------------------------------------


def grant(request: HttpRequest, link: ShareLink) -> None:
    """Remember in the session that this browser opened `link` (after its passcode)."""
    grants = [int(pk) for pk in request.session.get(SESSION_KEY, []) if int(pk) != link.pk]
    request.session.cycle_key()  # a new session id for the new right (no fixation)
    request.session[SESSION_KEY] = [*grants, link.pk]
    if hasattr(request, "_share_links"):
        del request._share_links


def has_grant(request: HttpRequest, link: ShareLink) -> bool:
    return any(other.pk == link.pk for other in granted_links(request))


def granted_links(request: HttpRequest) -> list[ShareLink]:
    """The session's links that are still valid, checked against the database now.

    Grants of revoked, expired or deleted links are dropped from the session.
    """
    cached = getattr(request, "_share_links", None)
    if cached is not None:
        return list(cached)
    session = getattr(request, "session", None)
    ids = [int(pk) for pk in session.get(SESSION_KEY, [])] if session is not None else []
    links: list[ShareLink] = []
    if ids:
        links = list(
            ShareLink.objects.filter(
                pk__in=ids, revoked_at__isnull=True, expires_at__gt=timezone.now()
            ).order_by("pk")
        )
        valid = [link.pk for link in links]
        if session is not None and valid != ids:
            session[SESSION_KEY] = valid
    request._share_links = links  # type: ignore[attr-defined]
    return list(links)


def shared_study_ids(request: HttpRequest) -> set[int]:
    """Ids of the studies this session may view through a valid share link."""
    return {link.study_id for link in granted_links(request)}


def link_for_study(request: HttpRequest, study_id: int) -> ShareLink | None:
    """The session's valid link for the study (the newest), or None."""
    links = [link for link in granted_links(request) if link.study_id == study_id]
    return links[-1] if links else None


def download_link(request: HttpRequest, study_id: int) -> ShareLink | None:
    """The session's valid link for the study that allows downloads (the newest), or None."""
    links = [
        link for link in granted_links(request) if link.study_id == study_id and link.allow_download
    ]
    return links[-1] if links else None


def share_or_login_required(view: View) -> View:
    """Like ``login_required``, but also lets a session with a valid share grant through.

    The view itself decides which study the grant covers (``viewable_study``).
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated or granted_links(request):
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path())

    return wrapped


def viewer_context(request: HttpRequest, study: Study) -> dict[str, Any]:
    """Template context of the viewer page for a link holder (empty for normal access)."""
    if can_view_study(request.user, study):
        return {}
    link = link_for_study(request, study.pk)
    if link is None:
        return {}
    return {"share": link, "viewer_base": "uploads/share_base.html"}


# -- audit of link use -----------------------------------------------------------------------


def record_open(request: HttpRequest, link: ShareLink) -> None:
    now = timezone.now()
    ShareLink.objects.filter(pk=link.pk).update(open_count=F("open_count") + 1, last_opened_at=now)
    record(request, "share.opened", link, study=link.study_id)


def note_view(request: HttpRequest, link: ShareLink, instance: Instance, what: str) -> None:
    """Audit that a link holder viewed an image (`what`: "slice", "attributes" or "rt",
    the radiotherapy overlay).

    Logged at most once per instance, kind and grant (browser session), so scrolling
    through a series does not flood the audit log.
    """
    session_key = request.session.session_key or "-"
    seen = hashlib.sha256(f"{session_key}|{link.pk}|{instance.pk}|{what}".encode()).hexdigest()
    remaining = max(60, int((link.expires_at - timezone.now()).total_seconds()))
    if cache.add(f"share-seen:{seen[:40]}", 1, remaining):
        record(request, f"share.{what}_viewed", link, study=link.study_id,
               instance=instance.pk, series=instance.series_id)  # fmt: skip


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
