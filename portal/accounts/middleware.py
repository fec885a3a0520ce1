"""``session_limits``: a signed-in session ends when it was signed out elsewhere (the
Security page, "sign out everywhere", an admin's 2FA reset), was idle longer than
``SESSION_IDLE_SECONDS[role]`` or is older than ``SESSION_MAX_SECONDS[role]``.

The check runs when the request's user is first used (``request.user`` stays lazy), so a
request that never looks at the user (a slice PNG with its token) still costs no session
or database work. An ended session is flushed and the user is anonymous from then on:
pages that need a login send the browser to the login page (``?next=`` kept), where a
plain message says why. One indexed read per signed-in request; ``last_seen_at`` is
written at most every minute (sooner for short idle limits).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from portal.accounts import session_records
from portal.accounts.models import UserSession
from portal.audit.log import record as audit

MESSAGES = {
    "idle": "You were signed out after {minutes} without activity. Please log in again.",
    "absolute": "Your session reached its time limit. Please log in again.",
    "ended": "This session was signed out from the Security page. Please log in again.",
}


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def check(request: HttpRequest, user: Any) -> str:
    """Why the request's session must end ("idle", "absolute", "ended"), or ""."""
    record = session_records.current(request, user)
    now = timezone.now()
    if record is None:  # a session from before records existed: it starts now
        session_records.start(request, user, "unknown", signed_in=False)
        return ""
    if record.ended_at is not None:
        return "ended"
    if now - record.created_at > timedelta(seconds=session_records.max_seconds(user)):
        reason = "absolute"
    elif now - record.last_seen_at > timedelta(seconds=session_records.idle_seconds(user)):
        reason = "idle"
    else:
        if (now - record.last_seen_at).total_seconds() >= session_records.touch_every(user):
            UserSession.objects.filter(pk=record.pk).update(last_seen_at=now)
        return ""
    if session_records.end(record, reason, now):
        audit(request, "session.expired", record, user=user, reason=reason)
    return reason


def _checked_user(request: HttpRequest, user: Any) -> Any:
    if not user.is_authenticated:
        return user
    reason = check(request, user)
    if not reason:
        return user
    idle = session_records.idle_seconds(user)
    request.session.flush()  # as logout() does (the record is already ended and audited)
    messages.info(request, MESSAGES[reason].format(minutes=_minutes(idle)))
    return AnonymousUser()


def session_limits(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        user = request.user  # Django's lazy user: not loaded yet
        request.user = SimpleLazyObject(lambda: _checked_user(request, user))  # type: ignore[assignment]
        return get_response(request)

    return middleware
