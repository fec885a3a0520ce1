"""Stored files follow their rows: when an instance or an export is deleted (a study or an
account deleted by an admin cascades to them), its file is removed from storage once the
deletion has committed, so no de-identified copy outlives its record.

An instance's file can be shared: two owners who send the same original for server-only
de-identification get the same UIDs and therefore the same stored name. The file is only
removed when no instance refers to it any more.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from uploads.models import Export, Instance

log = logging.getLogger(__name__)


def delete_quietly(name: str) -> None:
    """Remove a stored file; a storage error is logged (the row is gone either way)."""
    try:
        default_storage.delete(name)
    except Exception as exc:
        log.warning("stored file not removed (%s)", type(exc).__name__)


@receiver(post_delete, sender=Instance)
def instance_deleted(sender: Any, instance: Instance, **kwargs: Any) -> None:
    name = instance.file

    def drop() -> None:
        if name and not Instance.objects.filter(file=name).exists():
            delete_quietly(name)

    transaction.on_commit(drop)


@receiver(post_delete, sender=Export)
def export_deleted(sender: Any, instance: Export, **kwargs: Any) -> None:
    name = instance.file
    if name:
        transaction.on_commit(lambda: delete_quietly(name))
