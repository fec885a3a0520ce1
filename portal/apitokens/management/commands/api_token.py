"""``manage.py api_token EMAIL [--days N] [--name NAME]``: print a new personal API token
for the account (on the last line; it is never shown again)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portal.accounts.models import User
from portal.apitokens import tokens
from portal.audit.log import record


class Command(BaseCommand):
    help = "Create a personal API token (DICOMweb: Authorization: Bearer TOKEN)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("email")
        parser.add_argument("--days", type=int, default=None,
                            help="days of validity (default API_TOKEN_DEFAULT_DAYS)")  # fmt: skip
        parser.add_argument("--name", default="command line")

    def handle(self, *args: Any, email: str, days: int | None, name: str, **opts: Any) -> None:
        user = User.objects.filter(email__iexact=email).first()
        if user is None or not user.is_active:
            raise CommandError(f"no active account with email {email}")
        try:
            row, token = tokens.issue(user, name=name, days=days)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        record(None, "apitoken.created", row, user=user, via="command", days=days)
        self.stdout.write(
            f"token {row.prefix}… for {user.email}, expires {row.expires_at:%Y-%m-%d}"
        )
        self.stdout.write(token)
