"""Sign-up, email verification, login with throttling, password reset, invitations, user
management.

None of the answers to an anonymous visitor says whether an address has an account: login
costs the same password hashing with or without one, sign-up shows the same page (the
account holder gets a notice instead), and password reset always says "sent". Emails
about an account are limited per address (``ACCOUNT_EMAIL_RATE``), password-reset
requests per client IP (``PASSWORD_RESET_IP_RATE``).
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeGuard

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, make_password
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal import ratelimit
from portal.accounts import emails, throttle
from portal.accounts.decorators import recent_auth_required, role_required
from portal.accounts.forms import (
    EmailForm,
    InviteForm,
    LoginForm,
    SignupForm,
    UserRoleForm,
    VerifyingSetPasswordForm,
)
from portal.accounts.models import Role, User
from portal.accounts.signin import complete_sign_in
from portal.accounts.tasks import send_account_email
from portal.accounts.tokens import invite_token, verification_token
from portal.audit.log import client_ip, record
from portal.i18n import LANGUAGE_CODES
from portal.oncommit import after_commit


def allow_account_email(email: str) -> bool:
    """Count one email about an account (password reset, sign-up notice) to ``email``;
    False once ``ACCOUNT_EMAIL_RATE`` is used up. Counted whether or not the address has
    an account, so the limit tells nothing either."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return ratelimit.allow("account-email", digest, "ACCOUNT_EMAIL_RATE")


def password_matches(user: User | None, password: str) -> TypeGuard[User]:
    """Check ``password``; without an account (or a usable password) hash it anyway, so
    the time taken does not tell whether the address has an account."""
    if user is None or not user.has_usable_password():
        make_password(password)
        return False
    return user.check_password(password)


def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = LoginForm(request.POST or None)
    error = ""
    status = 200
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].lower()
        ip = client_ip(request)
        user = User.objects.filter(email__iexact=email).first()
        if throttle.is_locked(email, ip):
            error = _("Too many failed attempts. Please wait a few minutes and try again.")
            status = 429
        elif not password_matches(user, form.cleaned_data["password"]):
            throttle.record_failure(email, ip)
            record(request, "login.failed", user=user)
            error = _("Email or password is not right.")
        elif not user.is_active:
            error = _("This account is deactivated. Contact the administrator.")
        elif not user.email_verified:
            error = _("Please confirm your email address first: we sent you a link.")
        else:
            throttle.reset(email)
            return complete_sign_in(request, user, "password")
    oidc = settings.OIDC_PROVIDER_NAME if settings.OIDC_ISSUER else ""
    context = {"form": form, "error": error, "oidc_provider": oidc}
    return render(request, "accounts/login.html", context, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        record(request, "logout")
    logout(request)
    return redirect("login")


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is closed")
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and not ratelimit.allow(
        "signup", client_ip(request), "SIGNUP_RATE"
    ):
        form.add_error(None, _("Too many sign-ups from your network. Please try again later."))
        return render(request, "accounts/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        email, password = form.cleaned_data["email"], form.cleaned_data["password"]
        user = create_patient(request, email, password)
        if user is not None:
            after_commit(send_account_email.delay, "verification", user.pk)
        else:
            notify_existing(request, email, password)
        return render(request, "accounts/signup_done.html", {"email": email})
    return render(request, "accounts/signup.html", {"form": form})


def create_patient(request: HttpRequest, email: str, password: str) -> User | None:
    """A new patient account, or None when the address has one already."""
    if User.objects.filter(email__iexact=email).exists():
        return None
    try:
        with transaction.atomic():
            # The language they signed up in: their emails (verification first) use it.
            language = translation.get_language()
            user = User.objects.create_user(
                email,
                password,
                role=Role.PATIENT,
                language=language if language in LANGUAGE_CODES else "",
            )
            record(request, "account.signup", user, user=user)
    except IntegrityError:  # signed up at the same moment by another request
        return None
    return user


def notify_existing(request: HttpRequest, email: str, password: str) -> None:
    """Sign-up with an address that has an account: the same work and the same page as a
    new sign-up; the holder (if active) gets a notice, within ``ACCOUNT_EMAIL_RATE``."""
    make_password(password)  # as creating the account would
    user = User.objects.filter(email__iexact=email).first()
    if user is None or not user.is_active:
        return
    record(request, "account.signup_existing", user, user=user)
    if allow_account_email(email):
        after_commit(send_account_email.delay, "account_exists", user.pk)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, limited per client IP (429, ``PASSWORD_RESET_IP_RATE``) and
    per address (``ACCOUNT_EMAIL_RATE``: no email, the same "sent" page); the email is
    sent by a worker."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ip = client_ip(request)
        if not ratelimit.allow("password-reset", ip, "PASSWORD_RESET_IP_RATE"):
            form = self.get_form()
            form.add_error(
                None, _("Too many password-reset requests from your network. Please try later.")
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        """The email goes through a worker (the same answer time with or without an
        account), to the accounts Django's form would write to: active, with a password."""
        email = form.cleaned_data["email"]
        if allow_account_email(email):
            for user in form.get_users(email):
                after_commit(send_account_email.delay, "password_reset", user.pk)
        return HttpResponseRedirect(self.get_success_url())


def _user_from_uid(uidb64: str) -> User | None:
    try:
        return User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        return None


def verify_email(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    user = _user_from_uid(uidb64)
    if user is None or not verification_token.check_token(user, token):
        return render(request, "accounts/link_invalid.html", status=400)
    user.email_verified = True
    user.save(update_fields=["email_verified"])
    record(request, "account.verified", user, user=user)
    messages.success(request, _("Your email address is confirmed. You can log in now."))
    return redirect("login")


def resend_verification(request: HttpRequest) -> HttpResponse:
    """A new confirmation link for an account not yet confirmed. The same answer whether
    or not the address has such an account; limited per client IP
    (``PASSWORD_RESET_IP_RATE``) and per address (``ACCOUNT_EMAIL_RATE``)."""
    form = EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not ratelimit.allow("verify-resend", client_ip(request), "PASSWORD_RESET_IP_RATE"):
            form.add_error(None, _("Too many requests from your network. Please try again later."))
            return render(request, "accounts/verify_resend.html", {"form": form}, status=429)
        email = form.cleaned_data["email"].lower()
        unconfirmed = User.objects.filter(email_verified=False, is_active=True)
        user = unconfirmed.filter(email__iexact=email).first()
        # Accounts from an invitation have no password yet: the invitation is their link.
        if user is not None and user.has_usable_password() and allow_account_email(email):
            after_commit(send_account_email.delay, "verification", user.pk)
            record(request, "account.verification_resent", user, user=user)
        return render(request, "accounts/signup_done.html", {"email": email, "resent": True})
    return render(request, "accounts/verify_resend.html", {"form": form})


def pending_invitations() -> QuerySet[User]:
    """Accounts invited and not accepted yet: active, no password chosen (Django marks an
    unusable password with ``UNUSABLE_PASSWORD_PREFIX``), never signed in."""
    return User.objects.filter(
        is_active=True, last_login=None, password__startswith=UNUSABLE_PASSWORD_PREFIX
    )


def accept_invite(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    user = _user_from_uid(uidb64)
    if user is None or not invite_token.check_token(user, token):
        return render(request, "accounts/link_invalid.html", status=400)
    form = VerifyingSetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        record(request, "account.invite_accepted", user, user=user)
        return complete_sign_in(request, user, "invite")  # staff enrol their 2FA first
    return render(request, "accounts/accept_invite.html", {"form": form, "invitee": user})


@role_required(Role.ADMIN)
def users(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            invitee = User.objects.create_user(
                form.cleaned_data["email"],
                None,
                role=form.cleaned_data["role"],
                name=form.cleaned_data["name"],
            )
            record(request, "account.invited", invitee, role=invitee.role)
        emails.send_invitation(invitee, request.user)  # type: ignore[arg-type]
        messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitee.email})
        return redirect("users")
    return render(
        request,
        "accounts/users.html",
        {
            "form": form,
            "users": User.objects.order_by("role", "email"),
            "roles": Role.choices,
            "pending": set(pending_invitations().values_list("pk", flat=True)),
        },
    )


@require_POST
@role_required(Role.ADMIN)
@recent_auth_required
def user_update(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    if target == request.user:
        raise PermissionDenied("Administrators cannot change their own role or status here.")
    form = UserRoleForm(request.POST, instance=target)
    if form.is_valid():
        form.save()
        record(request, "account.updated", target, role=target.role, active=target.is_active)
        messages.success(request, _("%(email)s updated.") % {"email": target.email})
    else:
        messages.error(request, _("That change is not valid."))
    return redirect("users")


@require_POST
@role_required(Role.ADMIN)
def user_resend_invite(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a pending invitation again (a new link; the old one keeps working until the
    password is chosen), within ``ACCOUNT_EMAIL_RATE``."""
    target = get_object_or_404(User, pk=pk)
    if not pending_invitations().filter(pk=target.pk).exists():
        messages.error(
            request, _("%(email)s has already accepted the invitation.") % {"email": target.email}
        )
    elif not allow_account_email(target.email):
        messages.error(
            request,
            _("Too many emails to %(email)s lately. Try again later.") % {"email": target.email},
        )
    else:
        emails.send_invitation(target, request.user)  # type: ignore[arg-type]
        record(request, "account.invite_resent", target)
        messages.success(
            request, _("Invitation sent again to %(email)s.") % {"email": target.email}
        )
    return redirect("users")
