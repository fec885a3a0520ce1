"""Helpers shared by the reporting views: the lookups every view starts with."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse

from reports.errors import WorkflowError
from uploads.models import ReviewRequest, Study
from uploads.permissions import visible_requests, visible_studies


def visible_study(request: HttpRequest, pk: int) -> Study:
    """The study if the user may see it (``visible_studies``), else 404.

    A study the user may not see is indistinguishable from one that does not exist.
    """
    study = visible_studies(request.user).filter(pk=pk).select_related("owner").first()
    if study is None:
        raise Http404("No such study")
    return study


def visible_case(request: HttpRequest, pk: int) -> ReviewRequest:
    """The review request if the user may see it (``visible_requests``), else 404."""
    case = visible_requests(request.user).filter(pk=pk).select_related("owner").first()
    if case is None:
        raise Http404("No such request")
    return case


def body_json(request: HttpRequest) -> dict[str, Any] | None:
    """The request body as a JSON object, or None if it is not one."""
    try:
        data = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def json_error(exc: WorkflowError) -> JsonResponse:
    return JsonResponse({"ok": False, "error": str(exc)}, status=exc.status)
