"""Run the portal's DICOM receiver (Storage and Verification SCP): a PACS or modality
pushes studies with C-STORE; each association is ingested like an upload of the owner.

    python manage.py dicom_receiver [--owner EMAIL] [--port 11112]
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.models import User
from uploads import dicom_node


class Command(BaseCommand):
    help = "Receive DICOM studies pushed with C-STORE and ingest them for one account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", default=settings.DICOM_RECEIVER_OWNER,
                            help="email of the account the studies are for "
                                 "(default: DICOM_RECEIVER_OWNER)")  # fmt: skip
        parser.add_argument("--port", type=int, default=settings.DICOM_PORT)

    def handle(self, *args: Any, owner: str, port: int, **options: Any) -> None:
        if not owner:
            raise CommandError("give --owner EMAIL or set DICOM_RECEIVER_OWNER")
        user = User.objects.filter(email__iexact=owner, is_active=True).first()
        if user is None:
            raise CommandError(f"no active account {owner}")
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        allowed = ", ".join(settings.DICOM_ALLOWED_CALLING_AES) or "any calling AE title"
        self.stdout.write(
            f"DICOM receiver {settings.DICOM_AE_TITLE} on port {port} for {user.email} "
            f"(accepts {allowed})"
        )
        dicom_node.serve(user.pk, port)
