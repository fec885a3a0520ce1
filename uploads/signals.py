"""Stored files and the quota follow their rows: when an instance or an export is deleted
(a study or an account deleted by an admin cascades to them), its file and the images
pre-rendered from it (``derived/``) are removed from storage once the deletion has
committed, so no de-identified copy outlives its record,
and the owner's stored bytes (``uploads/intake/quota.py``) go down in the same transaction.

Every instance has a stored file of its own (``uploads/storage.py``); a file is still
only removed when no instance refers to it, as a guard.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from uploads.models import Export, Instance, Study, Usage
from uploads.storage import delete_derived, delete_quietly


@receiver(pre_delete, sender=Instance)
def instance_deleting(sender: Any, instance: Instance, **kwargs: Any) -> None:
    """Before the rows go (a cascade deletes the study after its instances): the quota,
    and the images rendered from the instance once the deletion has committed."""
    owner_id = (
        Study.objects.filter(series=instance.series_id).values_list("owner_id", flat=True).first()
    )
    if owner_id is None:
        return
    Usage.objects.filter(owner_id=owner_id).update(stored_bytes=F("stored_bytes") - instance.size)
    instance_id = instance.pk  # Django clears the pk once the row is gone
    transaction.on_commit(lambda: delete_derived(owner_id, instance_id))


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
