"""Run the portal's DICOM receiver (Storage and Verification SCP): a PACS or modality
pushes studies with C-STORE; each association is ingested like an upload of the account
its sender is registered for (``DICOM_PEERS``), or, on a loopback-only receiver without
peers, of ``--owner``.

    python manage.py dicom_receiver [--owner EMAIL] [--port 11112]
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.models import User
from uploads.intake import receiver


class Command(BaseCommand):
    help = "Receive DICOM studies pushed with C-STORE and ingest them for their accounts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--owner",
            default=settings.DICOM_RECEIVER_OWNER,
            help="without DICOM_PEERS: email of the account studies from this machine are "
            "for (default: DICOM_RECEIVER_OWNER)",
        )
        parser.add_argument("--port", type=int, default=settings.DICOM_PORT)

    def handle(self, *args: Any, owner: str, port: int, **options: Any) -> None:
        owner_id = None
        if not settings.DICOM_PEERS:
            if not owner:
                raise CommandError("give --owner EMAIL, or set DICOM_PEERS")
            user = User.objects.filter(email__iexact=owner, is_active=True).first()
            if user is None:
                raise CommandError(f"no active account {owner}")
            owner_id = user.pk
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        senders = (
            f"{len(settings.DICOM_PEERS)} registered peer(s)"
            if settings.DICOM_PEERS
            else f"this machine only, for {owner}"
        )
        self.stdout.write(
            f"DICOM receiver {settings.DICOM_AE_TITLE} on {settings.DICOM_BIND}:{port} "
            f"(accepts {senders})"
        )
        try:
            receiver.serve(port, owner_id)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
