"""An uploader's storage quota (``USER_QUOTA_BYTES``): what is stored, plus what is on
its way.

    used = stored bytes + bytes in flight

* **stored bytes**: the de-identified files of the uploader's instances, a running total
  (:class:`~uploads.models.Usage`) changed in the same transaction as every instance
  created (:func:`add_stored`, by ingest) or deleted (the ``pre_delete`` signal), so it
  cannot drift and reading it does not grow with the uploader's history;
* **bytes in flight**: files being received or waiting to be processed, at their
  declared size: a sum over unfinished files only (bounded by what is in transit).

Files are *admitted* when they arrive — registered, received whole, or unpacked from a
ZIP (its members count, not the ZIP) — under a lock on the uploader's usage row, so
concurrent requests cannot pass the quota together (:class:`Admission`). A file that
does not fit is refused at once, before its bytes are kept. Pre-rendered slices live in
the cache, not in storage, and export ZIPs expire within hours: neither counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db.models import F, Sum

from uploads.models import FileStatus, Instance, UploadFile, Usage

IN_FLIGHT = (FileStatus.RECEIVING, FileStatus.RECEIVED)
OVER_QUOTA = "over your storage quota; contact the administrator"


def in_flight(owner_id: int, exclude: Iterable[int] = ()) -> int:
    """Declared bytes of the uploader's files not processed yet (``exclude``: file ids)."""
    files = UploadFile.objects.filter(upload__owner_id=owner_id, status__in=IN_FLIGHT)
    total = files.exclude(pk__in=list(exclude)).aggregate(total=Sum("size"))["total"]
    return int(total or 0)


def stored_bytes(owner_id: int) -> int:
    value = Usage.objects.filter(owner_id=owner_id).values_list("stored_bytes", flat=True).first()
    return int(value or 0)


def used_bytes(owner_id: int) -> int:
    """What counts against the quota now (no lock: for display and tests)."""
    return stored_bytes(owner_id) + in_flight(owner_id)


def _ensure(owner_id: int) -> None:
    Usage.objects.bulk_create([Usage(owner_id=owner_id)], ignore_conflicts=True)


def add_stored(owner_id: int, delta: int) -> None:
    """Change the running total (call inside the transaction that stores or deletes)."""
    if delta and not Usage.objects.filter(owner_id=owner_id).update(
        stored_bytes=F("stored_bytes") + delta
    ):
        _ensure(owner_id)
        Usage.objects.filter(owner_id=owner_id).update(stored_bytes=F("stored_bytes") + delta)


class Admission:
    """Admit arriving files against the quota, first come first served. Create it inside
    the transaction that records the files: it locks the uploader's usage row until that
    transaction ends (``exclude``: in-flight files the new ones replace, e.g. the ZIP
    being unpacked)."""

    def __init__(self, owner_id: int, exclude: Iterable[int] = ()) -> None:
        _ensure(owner_id)
        usage = Usage.objects.select_for_update().get(owner_id=owner_id)
        self.left = settings.USER_QUOTA_BYTES - usage.stored_bytes - in_flight(owner_id, exclude)

    def fits(self, size: int) -> bool:
        """True, and the space is taken, when a file of ``size`` bytes fits."""
        if size > self.left:
            return False
        self.left -= size
        return True


def recount(owner_id: int) -> int:
    """The stored bytes recomputed from the instances (tests, and repairing by hand)."""
    total = Instance.objects.filter(series__study__owner_id=owner_id).aggregate(s=Sum("size"))
    return int(total["s"] or 0)
