"""``manage.py seed_demo [--password PW]``: the three demo accounts of shared/conventions.md."""

import secrets
from typing import Any

from django.core.management.base import BaseCommand

from portal.accounts.models import Role, User

DEMO_ACCOUNTS = [
    ("patient@example.org", Role.PATIENT, "Demo Patient"),
    ("radiologist@example.org", Role.RADIOLOGIST, "Dr. Demo Radiologist"),
    ("admin@example.org", Role.ADMIN, "Demo Admin"),
]


class Command(BaseCommand):
    help = "Create the demo accounts (patient, radiologist, admin), verified and active."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", help="Set this password on all three accounts.")

    def handle(self, *args: Any, password: str | None = None, **options: Any) -> None:
        for email, role, name in DEMO_ACCOUNTS:
            user = User.objects.filter(email=email).first()
            created = user is None
            if user is None:
                user = User(email=email, role=role, name=name)
            user.role = role
            user.is_active = True
            user.email_verified = True
            if password:
                user.set_password(password)
                shown = "(password as given)"
            elif created:
                generated = secrets.token_urlsafe(12)
                user.set_password(generated)
                shown = f"password: {generated}"
            else:
                shown = "(existing password kept)"
            user.save()
            verb = "created" if created else "updated"
            self.stdout.write(f"{verb} {role:<12} {email}  {shown}")
        self.stdout.write(
            "The radiologist and the admin set up two-factor authentication (an "
            "authenticator app) at their first login (MFA_REQUIRED_ROLES)."
        )
