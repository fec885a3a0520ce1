"""The tokens page: a signed-in user lists, creates and revokes their API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from portal.accounts import reauth
from portal.apitokens import tokens
from portal.apitokens.models import ApiToken
from portal.audit.log import record


@never_cache  # the answer to a POST holds the new token: no cache may keep it
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """GET: the user's tokens. POST: a new one, shown once on the answer page, after a
    recent sign-in or confirmation (``REAUTH_MINUTES``)."""
    created = ""
    error = ""
    status = 200
    if request.method == "POST" and not reauth.is_recent(request):
        return reauth.ask(request)  # a token acts as its owner: confirm it is them first
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            days = int(request.POST.get("days") or tokens.default_days())
            row, created = tokens.issue(request.user, name=name, days=days)
        except ValueError as exc:
            error = str(exc) if "valid for" in str(exc) else gettext("days must be a whole number")
            status = 400
        else:
            record(request, "apitoken.created", row, days=days)
    context = {
        "tokens": ApiToken.objects.filter(owner_id=request.user.pk),
        "created": created,
        "error": error,
        "default_days": tokens.default_days(),
        "max_days": tokens.max_days(),
    }
    return render(request, "apitokens/tokens.html", context, status=status)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's own tokens (another's answers 404)."""
    row = get_object_or_404(ApiToken, pk=pk, owner_id=request.user.pk)
    if tokens.revoke(row):
        record(request, "apitoken.revoked", row)
        messages.success(request, gettext("Token %(prefix)s… revoked.") % {"prefix": row.prefix})
    return redirect("api-tokens")
