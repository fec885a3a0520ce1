"""Test data for share links and exports (also used by tests/test_permissions.py)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from uploads.models import Export, ExportKind, ExportStatus, ShareLink, Study
from uploads.sharing.links import hash_token


def make_link(
    study: Study,
    creator: Any = None,
    *,
    days: float = 14,
    passcode: str = "",
    allow_download: bool = False,
    **extra: Any,
) -> tuple[ShareLink, str]:
    """A share link of `study` and its token (as the URL carries it)."""
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        study=study,
        created_by=creator or study.owner,
        token_hash=hash_token(token),
        expires_at=timezone.now() + timedelta(days=days),
        passcode_hash=make_password(passcode) if passcode else "",
        allow_download=allow_download,
        **extra,
    )
    return link, token


def make_export(
    study: Study, creator: Any = None, *, link: ShareLink | None = None, **extra: Any
) -> Export:
    """A finished export with a (tiny, fake) ZIP in storage."""
    export = Export.objects.create(
        study=study,
        kind=extra.pop("kind", ExportKind.DICOM),
        status=ExportStatus.DONE,
        progress=100,
        created_by=creator,
        share_link=link,
        expires_at=extra.pop("expires_at", timezone.now() + timedelta(hours=1)),
        **extra,
    )
    name = default_storage.save(
        f"exports/{study.pk}/{export.pk}/x.zip", ContentFile(b"PK\x05\x06" + b"\0" * 18)
    )
    Export.objects.filter(pk=export.pk).update(file=name, size=22)
    export.refresh_from_db()
    return export


def route_kwargs(kind: str, users: dict[str, Any]) -> dict[str, Any]:
    """URL kwargs for the permission matrix's sharing kinds (tests/test_permissions.py)."""
    study = users["study"]
    if kind == "share_link":
        return {"pk": make_link(study, users["target"])[0].pk}
    if kind == "share_token":
        return {"token": make_link(study, users["target"])[1]}
    if kind == "export":
        return {"pk": make_export(study, users["admin"]).pk}
    raise AssertionError(kind)
