"""Re-authentication before sensitive actions: "confirm it's you" (password, and the code
with 2FA), valid ``REAUTH_SECONDS``. Signing in counts as a confirmation."""

from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from portal.accounts.session_records import REAUTH_AT
from portal.redirects import is_local


def is_recent(request: HttpRequest) -> bool:
    at = request.session.get(REAUTH_AT)
    return isinstance(at, int | float) and time.time() - at <= settings.REAUTH_SECONDS


def mark(request: HttpRequest) -> None:
    request.session[REAUTH_AT] = time.time()


def _back(request: HttpRequest) -> str:
    """Where to go after confirming: the page itself (GET), else the form's ``next`` or
    the page the form was on (a POST is not replayed: the user submits it again)."""
    if request.method in {"GET", "HEAD"}:
        return request.get_full_path()
    for target in (request.POST.get("next", ""), request.headers.get("Referer", "")):
        if target and is_local(request, target):
            parts = urlsplit(target)
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return reverse("home")


def ask(request: HttpRequest) -> HttpResponse:
    url = f"{reverse('reauth')}?{urlencode({'next': _back(request)})}"
    if "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse(
            {"error": "Please confirm your password first.", "reauth": url}, status=401
        )
        response["X-Reauth-URL"] = url
        return response
    if request.method not in {"GET", "HEAD"}:
        messages.info(request, "Please confirm it is you, then do it again.")
    return redirect(url)
