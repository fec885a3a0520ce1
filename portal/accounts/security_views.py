"""The second factor at login, enrolment, the account's Security page (2FA, recovery
codes, active sessions), "confirm it's you", and an admin's 2FA reset.

Wrong codes count against the same throttle as wrong passwords (per account and per IP,
``LOGIN_MAX_FAILURES`` / ``LOGIN_LOCKOUT_SECONDS``); every change is audited, codes and
secrets never are.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext, gettext_noop, ngettext
from django.views.decorators.http import require_POST

from portal.accounts import mfa, reauth, session_records, throttle
from portal.accounts.decorators import recent_auth_required, role_required
from portal.accounts.models import Role, User, UserSession
from portal.accounts.signin import finish, pending_user
from portal.accounts.views import password_matches
from portal.audit.log import client_ip, record
from portal.redirects import next_url

LOCKED = gettext_noop("Too many wrong codes. Please wait a few minutes and try again.")
WRONG = gettext_noop("That code is not right. Codes change every 30 seconds; each works once.")


def _throttle_id(user: User) -> str:
    return f"mfa:{user.pk}"


def _check_code(request: HttpRequest, user: User, code: str) -> tuple[str, str, int]:
    """(second factor used, error, status) for a code typed by ``user``."""
    ip = client_ip(request)
    if throttle.is_locked(_throttle_id(user), ip):
        record(request, "mfa.failed", user=user, locked=True)
        return "", gettext(LOCKED), 429
    used = mfa.verify(user, code)
    if not used:
        throttle.record_failure(_throttle_id(user), ip)
        record(request, "mfa.failed", user=user)
        return "", gettext(WRONG), 200
    throttle.reset(_throttle_id(user))
    if used == "recovery":
        record(request, "mfa.recovery_used", user=user, left=mfa.recovery_codes_left(user))
    return used, "", 200


# -- at login --------------------------------------------------------------------------------


def mfa_verify(request: HttpRequest) -> HttpResponse:
    """The code page between the password and the session."""
    if request.user.is_authenticated:
        return redirect("home")
    found = pending_user(request)
    if found is None:
        messages.info(request, gettext("Please log in again."))
        return redirect("login")
    user, pending = found
    if not mfa.has_device(user):
        return redirect("mfa-enrol")
    error, status = "", 200
    if request.method == "POST":
        used, error, status = _check_code(request, user, request.POST.get("code", ""))
        if used:
            response = finish(request, user, str(pending.get("method", "")), used)
            left = mfa.recovery_codes_left(user)
            if used == "recovery":
                messages.warning(
                    request,
                    ngettext(
                        "You used a recovery code; %(left)s left. Make new ones on the "
                        "Security page if you lost your authenticator.",
                        "You used a recovery code; %(left)s left. Make new ones on the "
                        "Security page if you lost your authenticator.",
                        left,
                    )
                    % {"left": left},
                )
            return response
    return render(request, "accounts/mfa_verify.html", {"error": error}, status=status)


def mfa_enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: during a pending sign-in (required for staff) or from
    the Security page. The first good code confirms it; the recovery codes are shown once."""
    pending: dict[str, Any] | None
    if request.user.is_authenticated:
        user: User = request.user
        pending = None
        if mfa.has_device(user):
            messages.info(request, gettext("Two-factor authentication is already on."))
            return redirect("account-security")
    else:
        found = pending_user(request)
        if found is None:
            return redirect("login")
        user, pending = found
        if mfa.has_device(user):
            return redirect("mfa-verify")
    device = mfa.pending_device(user) if request.method == "POST" else None
    error, status = "", 200
    if request.method == "POST" and device is not None:
        ip = client_ip(request)
        if throttle.is_locked(_throttle_id(user), ip):
            error, status = gettext(LOCKED), 429
        else:
            codes = mfa.confirm_enrolment(user, device, request.POST.get("code", ""))
            if codes is not None:
                throttle.reset(_throttle_id(user))
                record(request, "mfa.enrolled", user=user)
                context = {"codes": codes, "next": ""}
                if pending is not None:
                    finished = finish(request, user, str(pending.get("method", "")), "totp")
                    context["next"] = finished["Location"]
                else:
                    reauth.mark(request)
                    context["next"] = "/account/security/"
                return render(request, "accounts/recovery_codes.html", context)
            throttle.record_failure(_throttle_id(user), ip)
            record(request, "mfa.failed", user=user, enrolment=True)
            error = gettext(WRONG)
    if device is None:
        device = mfa.pending_device(user) or mfa.start_enrolment(user)
    secret = mfa.secret_of(device)
    uri = mfa.provisioning_uri(user, device)
    page: dict[str, Any] = {
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr": mfa.qr_svg(uri),
        "error": error,
        "required": mfa.required_for(user),
        "pending": pending is not None,
    }
    return render(request, "accounts/mfa_enrol.html", page, status=status)


# -- the Security page -----------------------------------------------------------------------


@login_required
def security(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    current = request.session.get(session_records.SESSION_ID)
    return render(
        request,
        "accounts/security.html",
        {
            "has_mfa": mfa.has_device(user),
            "required": mfa.required_for(user),
            "codes_left": mfa.recovery_codes_left(user),
            "sessions": session_records.open_sessions(user),
            "current": current,
        },
    )


@require_POST
@login_required
@recent_auth_required
def mfa_disable(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if mfa.required_for(user):
        raise PermissionDenied("Two-factor authentication is required for your role.")
    if mfa.has_device(user):
        mfa.disable(user)
        record(request, "mfa.disabled", user=user)
        messages.success(request, gettext("Two-factor authentication is off."))
    return redirect("account-security")


@require_POST
@login_required
@recent_auth_required
def mfa_recovery_codes(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not mfa.has_device(user):
        messages.info(request, gettext("Turn on two-factor authentication first."))
        return redirect("account-security")
    codes = mfa.new_recovery_codes(user)
    record(request, "mfa.recovery_regenerated", user=user)
    return render(
        request, "accounts/recovery_codes.html", {"codes": codes, "next": "/account/security/"}
    )


@require_POST
@login_required
def session_end(request: HttpRequest) -> HttpResponse:
    """Sign out one of the user's sessions (the current one: log out)."""
    try:
        pk = int(request.POST.get("session", ""))
    except ValueError:
        raise Http404("No such session") from None
    target = get_object_or_404(UserSession, pk=pk, user_id=request.user.pk, ended_at__isnull=True)
    if session_records.end(target, "signed_out"):
        record(request, "session.ended", target)
    if pk == request.session.get(session_records.SESSION_ID):
        from django.contrib.auth import logout

        logout(request)
        return redirect("login")
    messages.success(request, gettext("That session is signed out."))
    return redirect("account-security")


@require_POST
@login_required
def sessions_end_all(request: HttpRequest) -> HttpResponse:
    """Sign out everywhere else: every other session of this account ends."""
    count = session_records.end_others(request, request.user)  # type: ignore[arg-type]
    record(request, "session.ended_all", count=count)
    messages.success(
        request,
        gettext("Signed out everywhere else.")
        if count
        else gettext("There were no other sessions to sign out."),
    )
    return redirect("account-security")


# -- confirm it's you ------------------------------------------------------------------------


@login_required
def reauth_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    has_password = user.has_usable_password()
    has_mfa = mfa.has_device(user)
    error, status = "", 200
    target = next_url(request, "account-security")
    if request.method == "POST":
        ip = client_ip(request)
        if throttle.is_locked(user.email, ip):
            error, status = gettext("Too many failed attempts. Please wait a few minutes."), 429
        elif has_password and not password_matches(user, request.POST.get("password", "")):
            throttle.record_failure(user.email, ip)
            record(request, "reauth.failed", user=user)
            error = gettext("That password is not right.")
        elif has_mfa:
            _used, error, status = _check_code(request, user, request.POST.get("code", ""))
        if not error and (has_password or has_mfa):
            reauth.mark(request)
            record(request, "reauth", user=user)
            return redirect(target)
    return render(
        request,
        "accounts/reauth.html",
        {
            "has_password": has_password,
            "has_mfa": has_mfa,
            "error": error,
            "next": target,
        },
        status=status,
    )


# -- admins ----------------------------------------------------------------------------------


@require_POST
@role_required(Role.ADMIN)
@recent_auth_required
def user_mfa_reset(request: HttpRequest, pk: int) -> HttpResponse:
    """An admin turns off a user's 2FA (lost phone and codes); a role that needs it enrols
    again at the next login. The user's sessions end."""
    target = get_object_or_404(User, pk=pk)
    if target == request.user:
        raise PermissionDenied("Use your own Security page.")
    mfa.disable(target)
    ended = session_records.end_all(target, "mfa_reset")
    record(request, "mfa.reset", target, sessions_ended=ended)
    messages.success(
        request,
        gettext("Two-factor authentication of %(email)s was reset.") % {"email": target.email},
    )
    return redirect("users")
