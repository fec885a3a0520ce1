"""``session_limits``: a signed-in session ends when it was ended elsewhere, idle too long
or is too old (per role, ``SESSION_IDLE_SECONDS`` / ``SESSION_MAX_SECONDS``); the user is
signed out and sent to the login page with a plain message. One indexed read per signed-in
request; ``last_seen_at`` is written at most every minute (sooner for short idle limits)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from portal.accounts import session_records
from portal.accounts.models import User, UserSession
from portal.audit.log import record as audit

MESSAGES = {
    "idle": "You were signed out after {minutes} without activity. Please log in again.",
    "absolute": "Your session reached its time limit. Please log in again.",
    "ended": "This session was signed out from the Security page. Please log in again.",
}


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def check(request: HttpRequest, user: User) -> str:
    """Why the request's session must end ("idle", "absolute", "ended"), or ""."""
    record = session_records.current(request)
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


def session_limits(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            reason = check(request, user)  # type: ignore[arg-type]
            if reason:
                path = request.get_full_path()
                idle = session_records.idle_seconds(user)  # type: ignore[arg-type]
                logout(request)
                messages.info(request, MESSAGES[reason].format(minutes=_minutes(idle)))
                return redirect_to_login(path)
        return get_response(request)

    return middleware
