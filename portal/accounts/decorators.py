from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from portal.accounts import reauth

View = Callable[..., HttpResponse]


def role_required(*roles: str) -> Callable[[View], View]:
    """Anonymous users go to the login page; users of other roles get 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if getattr(request.user, "role", None) not in roles:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def recent_auth_required(view: View) -> View:
    """Sensitive actions (role changes, API tokens, exports): a signed-in user whose last
    sign-in or confirmation is older than ``REAUTH_SECONDS`` confirms their password (and
    code, with 2FA) first (``portal/accounts/reauth.py``). Anonymous requests pass through
    to the view (put the login or role check before this one)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not reauth.is_recent(request):
            return reauth.ask(request)
        return view(request, *args, **kwargs)

    return wrapped
