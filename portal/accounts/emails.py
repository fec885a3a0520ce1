"""Account emails: verification, invitation, "you already have an account", password
reset. Plain text + HTML, no patient data.

The ones a stranger can trigger for any address (sign-up, a new confirmation link, a
password reset) are sent by a worker (:mod:`portal.accounts.tasks`), so how long the page
takes to answer does not tell whether the address has an account."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from portal.accounts.models import User
from portal.accounts.tokens import invite_token, uid_for, verification_token
from portal.i18n import language_of


def send_templated(
    template: str, to: str, context: dict[str, object], language: str | None = None
) -> None:
    """Render ``templates/emails/<template>.{subject.txt,txt,html}`` and send it, in
    ``language`` (the recipient's, :func:`portal.i18n.language_of`) when given."""
    context = {"site_url": settings.SITE_URL, **context}
    with translation.override(language or translation.get_language()):
        subject = render_to_string(f"emails/{template}.subject.txt", context).strip()
        text = render_to_string(f"emails/{template}.txt", context)
        html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    message.send()


def send_verification(user: User) -> None:
    path = reverse("verify-email", args=[uid_for(user), verification_token.make_token(user)])
    send_templated(
        "verify_email", user.email, {"link": settings.SITE_URL + path}, language_of(user)
    )


def send_account_exists(user: User) -> None:
    """Tell an account holder that someone signed up with their address (nothing changed)."""
    send_templated(
        "account_exists",
        user.email,
        {
            "login_link": settings.SITE_URL + reverse("login"),
            "reset_link": settings.SITE_URL + reverse("password_reset"),
        },
        language_of(user),
    )


def send_invitation(user: User, invited_by: User) -> None:
    """In the invitee's language (the default until they choose), role name included."""
    path = reverse("accept-invite", args=[uid_for(user), invite_token.make_token(user)])
    language = language_of(user)
    with translation.override(language):
        role = user.get_role_display()
    send_templated(
        "invite",
        user.email,
        {"link": settings.SITE_URL + path, "role": role, "by": invited_by},
        language,
    )


def send_password_reset(user: User) -> None:
    """Django's password-reset email (its template variables), with the site's address."""
    site = urlsplit(settings.SITE_URL)
    send_templated(
        "password_reset",
        user.email,
        {
            "protocol": site.scheme,
            "domain": site.netloc,
            "uid": uid_for(user),
            "token": default_token_generator.make_token(user),
            "user": user,
        },
    )
