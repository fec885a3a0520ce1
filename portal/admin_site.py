"""The Django admin site without a login form of its own.

Its login view sends the browser to the portal's ``/login/`` page (throttled,
``portal/accounts/throttle.py``) with ``next`` pointing back into the admin: there is one
login for the whole portal, so the admin cannot be used to guess passwords unthrottled.
Staff rights follow the admin role (``portal/accounts/models.py``). The login page asks
admins for their second factor (``portal/accounts/signin.py``), and every change made in
the admin (a POST: role changes among them) needs a recent login or confirmation
(``portal/accounts/reauth.py``), as the portal's own user page does.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from portal.accounts import reauth

_View = TypeVar("_View", bound=Callable[..., Any])


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

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        """Django's checks, then: a change (POST, logging out aside) needs a recent login."""
        inner = super().admin_view(view, cacheable)
        if getattr(view, "__name__", "") == "logout":
            return inner

        @wraps(inner)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if (
                request.method == "POST"
                and request.user.is_authenticated
                and not reauth.is_recent(request)
            ):
                return reauth.ask(request)
            return inner(request, *args, **kwargs)

        return cast(_View, wrapped)
