"""Where a ``next=`` parameter may send the browser: only to this site.

Every view that reads ``next`` goes through :func:`next_url`, so a link or form made by
someone else (``?next=https://evil.example/``) cannot turn a portal page into a redirect
to their site (phishing with the portal's address in the link).
"""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def is_local(request: HttpRequest, target: str) -> bool:
    """True for a URL on this host (or a path), over https when the request is."""
    return url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def next_url(request: HttpRequest, default: str) -> str:
    """The request's ``next`` (form field, else query parameter) when it is local, else
    ``default`` (a path or a URL name)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if target and is_local(request, target) else resolve_url(default)
