"""The one place where a sign-in completes, whatever proved who the user is."""

from __future__ import annotations

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from portal.accounts.models import User
from portal.audit.log import record
from portal.redirects import next_url


def complete_sign_in(request: HttpRequest, user: User, method: str) -> HttpResponse:
    """Start ``user``'s session, audit it (``login`` with ``method``) and go to the safe
    ``next`` URL (else home)."""
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    record(request, "login", method=method)
    return redirect(next_url(request, "home"))
