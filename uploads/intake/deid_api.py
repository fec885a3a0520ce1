"""The de-identification profile for the browser engine (``frontend/src/deid-engine.js``).

``GET /api/deid/profile/`` returns PS3.15 Table E.1-1 exactly as the server engine reads
it (``uploads/dicom/profile/ps3_15_e1_1.json``, the single source of truth) plus what the
browser needs to behave like :mod:`uploads.dicom.deidentify`: the enabled options and,
under ``engine``, the engine's constants (:func:`uploads.dicom.constants.engine_constants`,
which the bundle also carries, generated at build time). The browser then de-identifies
every file before upload with the same table; the server de-identifies again on arrival.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from uploads.dicom import profile as prof
from uploads.dicom.deidentify import DeidOptions, engine_constants

__all__ = ["profile", "profile_payload"]


@functools.cache
def _table() -> dict[str, Any]:
    """The profile JSON as stored (validated once by :func:`prof.load_profile`)."""
    prof.load_profile()
    return dict(json.loads(prof.PROFILE_PATH.read_text(encoding="utf-8")))


def engine_info() -> dict[str, Any]:
    """Constants of the server engine the browser engine must reproduce."""
    return engine_constants()


def profile_payload(option_names: list[str] | None = None) -> dict[str, Any]:
    """The response body: the table, the enabled options and the engine constants.

    ``options`` are the enabled option names in the server engine's order (the order of
    De-identification Method values); ``allow_server_only`` says whether files the browser
    cannot rewrite may be sent for server-only de-identification (``DEID_ALLOW_SERVER_ONLY``).
    """
    names = settings.DEID_OPTIONS if option_names is None else option_names
    return {
        **_table(),
        "options": list(DeidOptions.from_names(names).names()),
        "allow_server_only": settings.DEID_ALLOW_SERVER_ONLY,
        "engine": engine_info(),
    }


@require_GET
@role_required(Role.PATIENT, Role.ADMIN)
def profile(request: HttpRequest) -> JsonResponse:
    """PS3.15 Table E.1-1 and the options the browser engine applies before upload."""
    response = JsonResponse(profile_payload())
    response["Cache-Control"] = "private, max-age=300"
    return response
