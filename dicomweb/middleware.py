"""Middleware for ``/dicomweb/``: CORS for the configured origins, and no CSRF check for
requests that authenticate with ``Authorization: Bearer``.

CORS (``DICOMWEB_CORS_ORIGINS``): a viewer hosted elsewhere (OHIF) calls DICOMweb from
the browser with a token in the ``Authorization`` header. Only listed origins get the
``Access-Control-Allow-*`` headers, never ``Allow-Credentials``: cookies are not usable
cross-origin, a cross-origin caller must hold a token.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from portal.apitokens.tokens import bearer

PREFIX = "/dicomweb/"
Handler = Callable[[HttpRequest], HttpResponse]


def cors(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin", "")
        allowed = request.path.startswith(PREFIX) and origin in settings.DICOMWEB_CORS_ORIGINS
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in (
            request.headers
        )
        if allowed and preflight:
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Authorization, Accept, Content-Type"
            response["Access-Control-Max-Age"] = "600"
        else:
            response = get_response(request)
        if allowed:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = "Content-Type, Content-Length, Warning"
        if request.path.startswith(PREFIX):
            response["Vary"] = ", ".join(
                filter(None, [response.get("Vary", ""), "Origin", "Authorization"])
            )
        return response

    return middleware


def bearer_without_csrf(get_response: Handler) -> Handler:
    """A ``/dicomweb/`` request with a Bearer credential carries nothing a cross-site page
    could make a browser add (the header needs a CORS preflight, which only the listed
    origins pass), and the DICOMweb views never fall back to the session when the header
    is present (``dicomweb/access.py``): CSRF does not apply to it. A session-authenticated
    POST (STOW from the portal's own pages) keeps the CSRF check."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path.startswith(PREFIX) and bearer(request):
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return get_response(request)

    return middleware
