"""The one place where a user becomes signed in.

Every way of proving who one is (the password form, an accepted invitation, OpenID
Connect) ends in :func:`complete_sign_in`. A user without a second factor who does not
need one is signed in at once. Otherwise the session keeps only a *pending* sign-in
(user id, method, where to go next, when; ``MFA_PENDING_SECONDS``) and the browser goes
to the code page, or to the enrolment page when the role needs 2FA and none is set up:
``login()`` happens only after the second factor (:func:`finish`).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from portal.accounts import mfa, session_records
from portal.accounts.models import User
from portal.audit.log import record
from portal.redirects import is_local, next_url

PENDING = "_portal_pending_sign_in"
DEFAULT_BACKEND = "django.contrib.auth.backends.ModelBackend"


def complete_sign_in(request: HttpRequest, user: User, method: str) -> HttpResponse:
    """Sign ``user`` in (after the first factor, proven by ``method``): at once, or after
    the second factor. Redirects to the safe ``next`` URL, the code page or enrolment."""
    target = next_url(request, "home")
    if not (mfa.required_for(user) or mfa.has_device(user)):
        return finish(request, user, method, "", target)
    request.session.cycle_key()  # a new key for the half-signed-in state too
    request.session[PENDING] = {
        "uid": user.pk,
        "method": method,
        "next": target,
        "at": time.time(),
        "backend": getattr(user, "backend", None) or DEFAULT_BACKEND,
    }
    if mfa.has_device(user):
        return redirect("mfa-verify")
    return redirect("mfa-enrol")


def pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    """The user of the session's pending sign-in, if it is recent and the account active."""
    pending = request.session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("at", 0)) > settings.MFA_PENDING_SECONDS:
        request.session.pop(PENDING, None)
        return None
    uid = pending.get("uid")
    if not isinstance(uid, int):
        return None
    user = User.objects.filter(pk=uid, is_active=True).first()
    if user is None:
        request.session.pop(PENDING, None)
        return None
    return user, pending


def finish(
    request: HttpRequest, user: User, method: str, second: str, target: str | None = None
) -> HttpResponse:
    """``login()``, audited as ``login`` with the method and the second factor used."""
    pending = request.session.pop(PENDING, None) or {}
    if target is None:
        target = str(pending.get("next") or "")
        if not (target and is_local(request, target)):
            target = next_url(request, "home")
    backend = pending.get("backend") or getattr(user, "backend", None) or DEFAULT_BACKEND
    setattr(request, session_records.SIGN_IN_ATTR, (method, second))
    login(request, user, backend=backend)
    record(request, "login", user=user, method=method, mfa=second or "none")
    return redirect(target)
