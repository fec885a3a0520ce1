"""A record per signed-in session (``UserSession``), and the limits on sessions.

Every ``login()`` (the sign-in flow, an accepted invitation, the test client's
``force_login``) creates a record through the ``user_logged_in`` signal and counts as a
fresh authentication for :func:`portal.accounts.reauth.is_recent`. The session itself
keeps the record's id; the record keeps only a SHA-256 of the session key. The middleware
(``portal/accounts/middleware.py``) ends a session that was ended elsewhere ("sign out
everywhere", "sign out" on the Security page), that was idle longer than
``SESSION_IDLE_SECONDS[role]``, or that is older than ``SESSION_MAX_SECONDS[role]``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.http import HttpRequest
from django.utils import timezone

from portal.accounts.models import User, UserSession
from portal.audit.log import client_ip

SESSION_ID = "_portal_session"  # the UserSession id, in the session
REAUTH_AT = "_portal_reauth_at"  # when the user last proved who they are (epoch seconds)
# Set on the request by portal.accounts.signin before login(): how the user signed in.
SIGN_IN_ATTR = "_portal_sign_in"


def key_hash(session_key: str | None) -> str:
    return hashlib.sha256((session_key or "").encode()).hexdigest()


def idle_seconds(user: User) -> int:
    limits = settings.SESSION_IDLE_SECONDS
    return int(limits.get(user.role, limits["patient"]))


def max_seconds(user: User) -> int:
    limits = settings.SESSION_MAX_SECONDS
    return int(limits.get(user.role, limits["patient"]))


def touch_every(user: User) -> float:
    """How often ``last_seen_at`` is written: often enough for the idle limit."""
    return min(60.0, idle_seconds(user) / 4)


def start(
    request: HttpRequest, user: User, method: str = "", mfa: str = "", *, signed_in: bool = True
) -> UserSession:
    """Record the request's session; ``signed_in``: the user has just authenticated."""
    now = timezone.now()
    record = UserSession.objects.create(
        user=user,
        key_hash=key_hash(request.session.session_key),
        method=method[:20],
        mfa=mfa[:10],
        created_at=now,
        last_seen_at=now,
        ip=client_ip(request),
        user_agent=short_agent(request.headers.get("User-Agent", "")),
    )
    request.session[SESSION_ID] = record.pk
    if signed_in:
        request.session[REAUTH_AT] = now.timestamp()
    # The stored session (database and cache) and its cookie end with the absolute limit.
    request.session.set_expiry(now + timedelta(seconds=max_seconds(user)))
    return record


def current(request: HttpRequest, user: Any) -> UserSession | None:
    pk = request.session.get(SESSION_ID)
    if not pk or not user.is_authenticated:
        return None
    return UserSession.objects.filter(pk=pk, user_id=user.pk).first()


def short_agent(agent: str) -> str:
    """A short description of a browser: its product tokens, not the whole string."""
    for product in ("Edg", "Firefox", "Chrome", "Chromium", "Safari"):
        if f"{product}/" in agent:
            name = {"Edg": "Edge"}.get(product, product)
            system = next(
                (s for s in ("Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux")
                 if s in agent),
                "",
            )  # fmt: skip
            return f"{name} on {system}" if system else name
    return agent[:120]


def end(record: UserSession, reason: str, at: datetime | None = None) -> bool:
    """Mark a session ended; False when it already was."""
    return bool(
        UserSession.objects.filter(pk=record.pk, ended_at__isnull=True).update(
            ended_at=at or timezone.now(), end_reason=reason[:20]
        )
    )


def end_others(request: HttpRequest, user: User) -> int:
    """End every other open session of ``user`` ("sign out everywhere")."""
    others = UserSession.objects.filter(user=user, ended_at__isnull=True).exclude(
        pk=request.session.get(SESSION_ID) or 0
    )
    return others.update(ended_at=timezone.now(), end_reason="signed_out_elsewhere")


def end_all(user: User, reason: str) -> int:
    return UserSession.objects.filter(user=user, ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason=reason[:20]
    )


def open_sessions(user: User) -> Any:
    return UserSession.objects.filter(user=user, ended_at__isnull=True).order_by("-last_seen_at")


def _on_login(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    method, mfa = getattr(request, SIGN_IN_ATTR, ("", ""))
    start(request, user, method, mfa)


def _on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None or user is None or not hasattr(request, "session"):
        return
    pk = request.session.get(SESSION_ID)
    if pk:
        UserSession.objects.filter(pk=pk, ended_at__isnull=True).update(
            ended_at=timezone.now(), end_reason="logout"
        )


def connect() -> None:
    user_logged_in.connect(_on_login, dispatch_uid="portal.accounts.session_records.login")
    user_logged_out.connect(_on_logout, dispatch_uid="portal.accounts.session_records.logout")
