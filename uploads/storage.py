"""Names of stored de-identified files, and create-only writes (Django storage API).

Nothing a client sends goes into a stored file's name: it is made of ids the server
issued (the owner's and the received file's), so one account can never name, replace or
delete another account's object, and no UID, file name or header can steer a path.
Writes never replace an existing object: on a name clash the storage back-end picks
another name (Django's ``FileSystemStorage`` creates with ``O_EXCL``; ``S3Storage`` runs
with ``file_overwrite=False``), and the database row, not the name, says which object an
instance uses (``Instance.file``).
"""

from __future__ import annotations

import hashlib
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

log = logging.getLogger(__name__)


def instance_name(owner_id: int, file_id: int) -> str:
    """Where the de-identified file made from received file ``file_id`` is stored.

    Deterministic, so a run that is retried after a worker died finds its own earlier
    copy (:func:`store_new`); unique, because a received file yields at most one
    instance and ids are never reused.
    """
    return f"instances/{int(owner_id)}/{int(file_id)}.dcm"


def store_new(name: str, data: bytes) -> str:
    """Store ``data`` for a new instance at ``name``, create-only; returns the name used.

    A taken name can only hold an earlier attempt at this very file (names are per
    received file, and a file is processed by one run at a time): when that copy has
    these bytes it is used as it is; otherwise (a copy cut short by a killed worker) the
    new copy goes under another name the back-end picks, and the old one is left alone.
    A failed write leaves nothing behind, so a retry starts clean.
    """
    if default_storage.exists(name):
        if same_bytes(name, data):
            return name
        log.warning("stored file name taken by an incomplete copy; stored under another")
        return str(default_storage.save(name, ContentFile(data)))
    try:
        return str(default_storage.save(name, ContentFile(data)))
    except OSError:
        if default_storage.exists(name):  # our own partial copy: the name was free
            delete_quietly(name)
        raise


def same_bytes(name: str, data: bytes) -> bool:
    try:
        with default_storage.open(name, "rb") as handle:
            existing = handle.read()
    except OSError:
        return False
    return hashlib.sha256(existing).digest() == hashlib.sha256(data).digest()


def delete_quietly(name: str) -> None:
    """Remove a stored object; a storage error is logged (the caller goes on)."""
    try:
        default_storage.delete(name)
    except Exception as exc:
        log.warning("stored file not removed (%s)", type(exc).__name__)


# -- derived images (pre-rendered slice PNGs) ------------------------------------------------


def derived_folder(owner_id: int, instance_id: int) -> str:
    """Where the images rendered from one instance are kept: one folder per instance, so
    deleting the instance removes them all (``uploads/signals.py``)."""
    return f"derived/{int(owner_id)}/{int(instance_id)}"


def derived_name(owner_id: int, instance_id: int, key: str) -> str:
    """The name of one derived image; ``key`` is a hex digest the server computed."""
    if not key or any(c not in "0123456789abcdef" for c in key):
        raise ValueError("a derived image is named by a hex digest")
    return f"{derived_folder(owner_id, instance_id)}/{key}.png"


def store_derived(name: str, data: bytes) -> bool:
    """Store a derived image, create-only; False when the name is taken already (another
    worker rendered the same image: it holds the same pixels) — the copy the back-end
    would have made under another name is removed again."""
    if default_storage.exists(name):
        return False
    used = str(default_storage.save(name, ContentFile(data)))
    if used != name:  # lost a race to another worker
        delete_quietly(used)
        return False
    return True


def derived_names(owner_id: int, instance_id: int) -> list[str]:
    """The derived images stored for an instance (none when its folder does not exist)."""
    folder = derived_folder(owner_id, instance_id)
    try:
        _, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return []
    return [f"{folder}/{name}" for name in files]


def delete_derived(owner_id: int, instance_id: int) -> None:
    """Remove every derived image of an instance, and its folder where folders exist (on
    local disk); storage errors are logged (the caller goes on)."""
    try:
        names = derived_names(owner_id, instance_id)
    except Exception as exc:
        log.warning("derived images not listed (%s)", type(exc).__name__)
        return
    for name in names:
        delete_quietly(name)
    if names or default_storage.exists(derived_folder(owner_id, instance_id)):
        delete_quietly(derived_folder(owner_id, instance_id))
