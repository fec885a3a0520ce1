"""The visitor's language: the switcher's view and the middleware that applies a signed-in
user's saved choice (docs/i18n.md).

Django's ``LocaleMiddleware`` picks the language of a request from the language cookie,
then the browser's Accept-Language, then ``LANGUAGE_CODE``. A signed-in user's saved
``User.language`` comes before all of these, so the choice follows them to every device;
emails are rendered in it (:func:`for_user`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

LANGUAGE_CODES = frozenset(code for code, _ in settings.LANGUAGES)


def user_language(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Activate the signed-in user's saved language (after ``AuthenticationMiddleware``)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        saved = getattr(user, "language", "") if user is not None else ""
        if saved in LANGUAGE_CODES and saved != translation.get_language():
            translation.activate(saved)
            request.LANGUAGE_CODE = saved
        return get_response(request)

    return middleware


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language switcher: Django's ``set_language`` (the cookie, back to ``next``),
    and the choice saved on a signed-in user's account."""
    response = django_set_language(request)
    code = request.POST.get("language", "")
    user = request.user
    if code in LANGUAGE_CODES and user.is_authenticated and user.language != code:
        user.language = code
        user.save(update_fields=["language"])
    return response


def language_of(user: Any) -> str:
    """The language to write to ``user`` in: their saved choice, else the default."""
    saved = getattr(user, "language", "")
    return saved if saved in LANGUAGE_CODES else settings.LANGUAGE_CODE


@contextmanager
def for_user(user: Any) -> Iterator[None]:
    """Render (an email) in ``user``'s language, whoever's request or task runs it."""
    with translation.override(language_of(user)):
        yield
