"""The keys and options of server-side de-identification (PS3.15 Annex E, the portal's
profile in ``uploads/dicom/profile/``): one place, used by ingest, the upload API (the
uploader's key for the browser) and research cohorts (pseudonyms of a patient list).

The server secret (``DEID_SECRET``) never leaves the server: the browser gets a key
derived from it per uploader (:func:`uploader_key`).
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from django.conf import settings

from uploads.dicom.deidentify import DeidOptions


@cache
def deid_options() -> DeidOptions:
    return DeidOptions.from_names(settings.DEID_OPTIONS)


def server_key() -> bytes:
    return settings.DEID_SECRET.encode()


def uploader_key(user_id: int) -> bytes:
    """The key the browser uses for this uploader: derived, so the server secret never
    leaves the server, and stable, so the same uploader's files line up across uploads."""
    return hmac.new(server_key(), f"uploader:{user_id}".encode(), hashlib.sha256).digest()


def uid_scope(owner_id: int) -> str:
    """Whom the server's UIDs are issued for: a UID is kept on re-import only when it was
    issued for the same account (``uploads/dicom/uids.py``, ``is_issued_uid``)."""
    return f"owner:{owner_id}"
