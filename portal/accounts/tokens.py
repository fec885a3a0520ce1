"""One-time tokens for email links (verification, invitations).

Django's password-reset generator hashes the password and last login, so a link
stops working once it has been used; the verification generator also hashes
``email_verified`` so a verification link works exactly once.
"""

from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "portal.accounts.tokens.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        return f"{user.pk}{user.email}{user.email_verified}{timestamp}"


verification_token = EmailVerificationTokenGenerator()
# Invitations are "set your first password" links: the reset generator fits exactly.
invite_token = default_token_generator


def uid_for(user) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))
