"""Received bytes before processing: chunks stored through the storage API, never served.

A file's chunks are stored as ``quarantine/<upload>/<file>/<offset>.part``; the file's
``received`` counter says how many bytes arrived in order, so a client resumes at that
offset after a dropped connection. Works on local disk and S3 alike (no appends).
"""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from uploads.models import UploadFile


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


def is_empty() -> bool:
    """True when nothing at all waits in quarantine (used by tests and health checks)."""
    try:
        dirs, files = default_storage.listdir("quarantine/")
    except FileNotFoundError:
        return True
    if files:
        return False
    for upload_dir in dirs:
        sub_dirs, sub_files = default_storage.listdir(f"quarantine/{upload_dir}/")
        if sub_files:
            return False
        for file_dir in sub_dirs:
            if default_storage.listdir(f"quarantine/{upload_dir}/{file_dir}/")[1]:
                return False
    return True
