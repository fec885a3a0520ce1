"""Received bytes before processing: chunks stored through the storage API, never served.

A file's chunks are stored as ``quarantine/<upload>/<file>/<offset>.part``; the file's
``received`` counter says how many bytes arrived in order, so a client resumes at that
offset after a dropped connection. Works on local disk and S3 alike (no appends).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from uploads.models import FileStatus, Upload, UploadFile

#: Parts of no waiting file are deleted once they are this old: younger ones may belong to
#: a request whose file row has not committed yet.
ORPHAN_AGE = timedelta(hours=1)


def part_name(file: UploadFile, offset: int) -> str:
    return f"{file.quarantine_prefix}{offset:015d}.part"


def save_whole(name: str, data: bytes) -> str:
    """Save through the storage API; if the write fails (a full disk), remove what was
    partly written, so a retry starts clean and nothing half-written is left behind."""
    try:
        return default_storage.save(name, ContentFile(data))
    except OSError:
        try:
            if default_storage.exists(name):
                default_storage.delete(name)
        except OSError:
            pass
        raise


def save_chunk(file: UploadFile, offset: int, data: bytes) -> None:
    name = part_name(file, offset)
    if default_storage.exists(name):  # a retried chunk: replace it
        default_storage.delete(name)
    save_whole(name, data)


def read_all(file: UploadFile) -> bytes:
    """The whole received file, parts in offset order."""
    try:
        _, names = default_storage.listdir(file.quarantine_prefix)
    except FileNotFoundError:
        names = []
    chunks = []
    for name in sorted(n for n in names if n.endswith(".part")):
        with default_storage.open(file.quarantine_prefix + name, "rb") as handle:
            chunks.append(handle.read())
    return b"".join(chunks)


def discard(file: UploadFile) -> None:
    """Delete every part of the file (idempotent)."""
    try:
        _, names = default_storage.listdir(file.quarantine_prefix)
    except FileNotFoundError:
        return
    for name in names:
        default_storage.delete(file.quarantine_prefix + name)


def discard_upload(upload_id: int) -> int:
    """Delete whatever is left under the upload's folder once every file of it is final.

    A file's parts go when its batch commits (:func:`discard`); a worker killed between
    that commit and the deletion leaves them behind. Closing the upload clears them, so
    they do not wait for :func:`sweep_orphans`. Returns how many parts were deleted."""
    paths = [f"quarantine/{folder}/{name}" for folder, name in _in_upload(str(upload_id))]
    for path in paths:
        default_storage.delete(path)
    return len(paths)


#: The states after which an upload's received bytes are never read again.
ENDED = (Upload.State.DONE, Upload.State.CANCELLED)


def clear_ended(upload_id: int) -> int:
    """Empty the quarantine folder of an upload that has ended and record that it was
    done, so the watchdog (:func:`uncleared`) stops looking at it. Idempotent; an
    upload still live is left alone. Returns how many parts were deleted."""
    if not Upload.objects.filter(pk=upload_id, state__in=ENDED).exists():
        return 0
    deleted = discard_upload(upload_id)
    Upload.objects.filter(pk=upload_id).update(quarantine_cleared=True)
    return deleted


def uncleared(limit: int = 200) -> list[int]:
    """Ended uploads whose clean-up has not run (the worker that ended them died)."""
    return list(
        Upload.objects.filter(state__in=ENDED, quarantine_cleared=False)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def stored() -> Iterator[tuple[str, str]]:
    """Every stored name in quarantine as (folder, name); a file's parts are in the folder
    "<upload>/<file>". Names found higher up (none are written there) come with the
    folder "" or "<upload>"."""
    try:
        uploads, names = default_storage.listdir("quarantine/")
    except FileNotFoundError:
        return
    yield from (("", name) for name in names)
    for upload_dir in uploads:
        yield from _in_upload(upload_dir)


def _in_upload(upload_dir: str) -> Iterator[tuple[str, str]]:
    """(folder, name) of everything stored under ``quarantine/<upload_dir>/``."""
    try:
        files, names = default_storage.listdir(f"quarantine/{upload_dir}/")
    except FileNotFoundError:
        return
    yield from ((upload_dir, name) for name in names)
    for file_dir in files:
        folder = f"{upload_dir}/{file_dir}"
        yield from ((folder, n) for n in default_storage.listdir(f"quarantine/{folder}/")[1])


def is_empty() -> bool:
    """True when nothing at all waits in quarantine (used by tests and health checks)."""
    return next(stored(), None) is None


def sweep_orphans(now: datetime | None = None) -> int:
    """Delete parts that no waiting file owns, older than :data:`ORPHAN_AGE`: left by a
    worker killed while unpacking an archive (its child rows rolled back) or by a request
    that died between writing and committing. Returns how many parts were deleted."""
    cutoff = (now or timezone.now()) - ORPHAN_AGE
    waiting = {
        f"{upload_id}/{file_id}"
        for upload_id, file_id in UploadFile.objects.filter(
            status__in=[FileStatus.RECEIVING, FileStatus.RECEIVED]
        ).values_list("upload_id", "pk")
    }
    deleted = 0
    for folder, name in list(stored()):
        path = f"quarantine/{folder}/{name}"
        if (
            "/" in folder
            and folder not in waiting
            and default_storage.get_modified_time(path) < cutoff
        ):
            default_storage.delete(path)
            deleted += 1
    return deleted
