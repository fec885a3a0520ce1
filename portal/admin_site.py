"""The Django admin site without a login form of its own.

Its login view sends the browser to the portal's ``/login/`` page (throttled,
``portal/accounts/throttle.py``) with ``next`` pointing back into the admin: there is one
login for the whole portal, so the admin cannot be used to guess passwords unthrottled.
Staff rights follow the admin role (``portal/accounts/models.py``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse


class PortalAdminSite(admin.AdminSite):
    """The admin site; logging in happens on the portal's own login page."""

    site_header = "DICOM Portal administration"

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Redirect (GET and POST alike) to ``/login/?next=…``; the login page checks ``next``."""
        target = request.GET.get(REDIRECT_FIELD_NAME) or reverse(
            "admin:index", current_app=self.name
        )
        return redirect_to_login(target)
