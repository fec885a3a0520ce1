"""Sign-in with an OpenID Connect provider (a hospital's Keycloak, Microsoft Entra ID,
Google): the authorization code flow with PKCE, state and nonce, by Authlib, which also
checks the ID token (signature against the provider's JWKS, issuer, audience, expiry,
nonce). Configured by the ``OIDC_*`` settings; off while ``OIDC_ISSUER`` is empty.

Who gets in (docs/security.md, "Sign-in with an OpenID Connect provider"):

* A provider account is matched by its (issuer, subject) link (:class:`ExternalIdentity`).
  Without one it is linked to the portal account with the same email, only when the
  provider says that email is verified; the link is then stored, and later sign-ins
  match by subject only. Linking an account whose email was never confirmed makes its
  password unusable (someone else may have signed up with that address).
* Staff roles come from an administrator's invitation, never from a claim alone: a staff
  claim (``OIDC_ROLE_CLAIM`` naming a value of ``OIDC_ADMIN_VALUES`` or
  ``OIDC_RADIOLOGIST_VALUES``) signs in only an invited staff account, and sets its role
  (radiologist or admin); a patient account with a staff claim is refused, and so is a
  staff account whose claim no longer names a staff role (an administrator decides).
* Without an account and without a staff claim, a new patient account is made only when
  ``OIDC_SIGNUP`` is ``patients`` and the email is verified.
* Deactivated accounts are refused. Every outcome is audited (``login`` with
  ``method=oidc``, ``login.failed`` with ``method=oidc`` and a ``reason``); no token,
  code or claim value other than the account's email goes into the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from joserfc.errors import ExpiredTokenError, JoseError

from portal.accounts.models import ExternalIdentity, Role, User
from portal.accounts.signin import complete_sign_in
from portal.audit.log import record
from portal.redirects import next_url

log = logging.getLogger(__name__)

METHOD = "oidc"
#: Clock difference tolerated between the provider and the portal, seconds.
LEEWAY = 60
_NEXT = "oidc_next"
_STAFF = {Role.RADIOLOGIST, Role.ADMIN}


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


_clients: dict[tuple[str, ...], Any] = {}


def client() -> Any:
    """The Authlib client for the configured provider (its discovery document and keys are
    fetched once per process, the keys again when a token names an unknown key)."""
    key = (settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET,
           settings.OIDC_SCOPES)  # fmt: skip
    if key not in _clients:
        _clients[key] = OAuth().register(
            "portal_oidc",
            client_id=settings.OIDC_CLIENT_ID,
            client_secret=settings.OIDC_CLIENT_SECRET or None,
            server_metadata_url=f"{settings.OIDC_ISSUER}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.OIDC_SCOPES,
                "code_challenge_method": "S256",
                "default_timeout": 10,
            },
        )
    return _clients[key]


def redirect_uri() -> str:
    # From SITE_URL, not the request's Host header: it must equal the registered one.
    return settings.SITE_URL + reverse("oidc-callback")


@dataclass
class Refusal(Exception):
    reason: str  # audited keyword
    message: str  # shown to the person, plain words
    status: int = 403
    user: User | None = None


@require_GET
def oidc_login(request: HttpRequest) -> HttpResponse:
    """The login page's button: off to the provider (state, nonce and PKCE verifier are
    kept in the session by Authlib).

    A link, not a form: the portal's CSP (``form-action 'self'``) stops a form submission
    that is redirected to another site. Starting a sign-in changes nothing but this
    session's pending state, and only the browser that started it can finish it."""
    if not enabled():
        raise Http404("OpenID Connect sign-in is not configured")
    request.session[_NEXT] = next_url(request, "home")
    try:
        check_discovery()
        return client().authorize_redirect(request, redirect_uri())
    except requests.RequestException:
        failure = Refusal("provider_unreachable", unreachable(), 502)
    except Refusal as refusal:
        failure = refusal
    return refuse(request, failure)


def check_discovery() -> None:
    """Load the discovery document (once per process) and check that it names the
    configured issuer (OpenID Connect Discovery §4.3): the ID token's ``iss`` is checked
    against it."""
    issuer = str(client().load_server_metadata().get("issuer", ""))
    if issuer.rstrip("/") != settings.OIDC_ISSUER:
        log.error("OpenID Connect: the discovery document names another issuer")
        raise Refusal("issuer_mismatch", unreachable(), 502)


def unreachable() -> str:
    return (
        f"{settings.OIDC_PROVIDER_NAME} could not be reached. Please try again in a few "
        "minutes, or log in with your email and password."
    )


@require_GET
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser back with a code (or an error)."""
    if not enabled():
        raise Http404("OpenID Connect sign-in is not configured")
    try:
        claims = validated_claims(request)
        user = account_for(request, claims)
    except Refusal as refusal:
        return refuse(request, refusal)
    # complete_sign_in goes to the request's `next`: the one kept when the flow started
    # (checked again there: local URLs only).
    query = request.GET.copy()
    query["next"] = request.session.pop(_NEXT, "")
    request.GET = query  # type: ignore[assignment]
    return complete_sign_in(request, user, METHOD)


def validated_claims(request: HttpRequest) -> dict[str, Any]:
    """The ID token's claims, once Authlib has checked state, exchanged the code (with the
    PKCE verifier) and validated the token; a :class:`Refusal` otherwise."""
    again = "The sign-in could not be completed. Please try again."
    try:
        check_discovery()
        token = client().authorize_access_token(request, leeway=LEEWAY)
    except MismatchingStateError as exc:
        raise Refusal("state_mismatch", again, 400) from exc
    except OAuthError as exc:
        error = str(exc.error or "")
        if error in {"access_denied", "login_required", "consent_required"}:
            message = f"Sign-in with {settings.OIDC_PROVIDER_NAME} was cancelled."
        else:
            message = again
        raise Refusal("provider_error", message, 400) from exc
    except ExpiredTokenError as exc:
        raise Refusal("id_token_expired", again, 400) from exc
    except JoseError as exc:
        log.warning("OpenID Connect: ID token refused (%s)", type(exc).__name__)
        raise Refusal("id_token_invalid", again, 400) from exc
    except requests.RequestException as exc:  # discovery, keys or the token exchange
        raise Refusal("provider_unreachable", unreachable(), 502) from exc
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise Refusal("id_token_missing", again, 400)
    return dict(claims)


def claim_values(claims: dict[str, Any], name: str) -> set[str]:
    """The values of claim ``name`` ("a.b" for a nested one): a list or a string."""
    value: Any = claims
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return {value}
    if isinstance(value, list | tuple):
        return {str(item) for item in value}
    return set()


def claimed_role(claims: dict[str, Any]) -> str | None:
    """The staff role the provider's role claim names (admin before radiologist), or None."""
    if not settings.OIDC_ROLE_CLAIM:
        return None
    values = claim_values(claims, settings.OIDC_ROLE_CLAIM)
    if values & set(settings.OIDC_ADMIN_VALUES):
        return Role.ADMIN
    if values & set(settings.OIDC_RADIOLOGIST_VALUES):
        return Role.RADIOLOGIST
    return None


def verified_email(claims: dict[str, Any]) -> str:
    """The claims' email when the provider says it verified it, else ""."""
    email = str(claims.get("email") or "").strip().lower()
    verified = claims.get(settings.OIDC_EMAIL_VERIFIED_CLAIM)
    if verified is True or (isinstance(verified, str) and verified.lower() == "true"):
        return email
    return ""


def account_for(request: HttpRequest, claims: dict[str, Any]) -> User:
    """The portal account this provider account signs in to (linked, or made, here), or a
    :class:`Refusal`. The rules are in the module's docstring."""
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    staff_role = claimed_role(claims)
    email = verified_email(claims)
    try:
        return resolve(request, claims, issuer, subject, email, staff_role)
    except IntegrityError as exc:  # the same first sign-in, at the same moment, elsewhere
        raise Refusal("concurrent_sign_in", "Please try again.", 409) from exc


def resolve(
    request: HttpRequest,
    claims: dict[str, Any],
    issuer: str,
    subject: str,
    email: str,
    staff_role: str | None,
) -> User:
    provider = settings.OIDC_PROVIDER_NAME
    with transaction.atomic():
        identity = (
            ExternalIdentity.objects.select_related("user")
            .select_for_update()
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        user = identity.user if identity else None
        if user is None and email:
            user = User.objects.select_for_update().filter(email__iexact=email).first()
            if user and user.external_identities.filter(issuer=issuer).exists():
                raise Refusal(
                    "identity_conflict",
                    f"This email address is already linked to another {provider} account. "
                    "Contact the administrator.",
                    user=user,
                )
        if user is None:
            user = new_account(request, claims, email, staff_role)
        check_role(user, staff_role)
        if staff_role and user.role != staff_role:  # an invited staff account: see above
            record(request, "account.role_from_oidc", user, user=user,
                   old=user.role, new=staff_role)  # fmt: skip
            user.role = staff_role
            user.save(update_fields=["role", "is_staff", "is_superuser"])
        if identity is None:
            link(request, user, issuer, subject)
        else:
            identity.last_login = timezone.now()
            identity.save(update_fields=["last_login"])
    return user


def new_account(
    request: HttpRequest, claims: dict[str, Any], email: str, staff_role: str | None
) -> User:
    provider = settings.OIDC_PROVIDER_NAME
    if staff_role:
        raise Refusal(
            "staff_not_invited",
            "Staff accounts are by invitation only. Ask an administrator of the portal to "
            f"invite you with the email address you use at {provider}.",
        )
    if not email:
        raise Refusal(
            "email_unverified",
            f"{provider} did not confirm your email address, so it cannot be matched to a "
            "portal account. Log in with your email and password instead.",
        )
    if settings.OIDC_SIGNUP != "patients":
        raise Refusal(
            "signup_closed",
            f"There is no portal account for this {provider} account, and none can be made "
            "from it. Ask an administrator for an invitation.",
        )
    user = User.objects.create_user(
        email, None, role=Role.PATIENT, email_verified=True,
        name=str(claims.get("name") or "")[:150],
    )  # fmt: skip
    record(request, "account.signup", user, user=user, method=METHOD)
    return user


def check_role(user: User, staff_role: str | None) -> None:
    if not user.is_active:
        raise Refusal(
            "inactive", "This account is deactivated. Contact the administrator.", user=user
        )
    if staff_role and user.role == Role.PATIENT:
        raise Refusal(
            "staff_claim_for_patient",
            "This is a patient account on the portal. Staff access needs an invitation "
            "from an administrator.",
            user=user,
        )
    if settings.OIDC_ROLE_CLAIM and not staff_role and user.role in _STAFF:
        raise Refusal(
            "staff_claim_missing",
            f"{settings.OIDC_PROVIDER_NAME} does not list you as portal staff any more. "
            "Contact the administrator.",
            user=user,
        )


def link(request: HttpRequest, user: User, issuer: str, subject: str) -> None:
    """Store the (issuer, subject) link. An account whose email was never confirmed (an
    invitation not yet accepted, or a sign-up someone else may have made with that address)
    is confirmed by the provider's verified email, and its password becomes unusable."""
    if not user.email_verified:
        user.email_verified = True
        user.set_unusable_password()
        user.save(update_fields=["email_verified", "password"])
    identity = ExternalIdentity.objects.create(
        user=user, issuer=issuer, subject=subject, last_login=timezone.now()
    )
    record(request, "account.linked", identity, user=user, method=METHOD, issuer=issuer)


def refuse(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    record(request, "login.failed", user=refusal.user, method=METHOD, reason=refusal.reason)
    request.session.pop(_NEXT, None)
    return render(
        request,
        "accounts/oidc_error.html",
        {"message": refusal.message, "provider": settings.OIDC_PROVIDER_NAME},
        status=refusal.status,
    )
