"""Who is asking, what they reach, and one audit event per request.

A DICOMweb request proves who it is in one of three ways, checked in this order:

1. ``Authorization: Bearer dwp_…``: a personal API token (``portal.apitokens``); it acts
   as its owner, so it reaches ``uploads.permissions.visible_studies(owner)``;
2. ``Authorization: Bearer <share link token>``: a share link without a passcode reaches
   its one study, read-only (a link with a passcode must be opened in the browser first);
3. no ``Authorization`` header: the browser session, i.e. the signed-in user's studies and
   the studies of the share links this session opened (``uploads.permissions``).

With a Bearer header the session is never used: a bad token is a 401, whatever cookies
come with it. A study the caller does not reach answers 404, as on the pages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from portal.apitokens import tokens
from portal.apitokens.models import ApiToken
from portal.audit.log import record
from uploads.dicom.uids import is_valid_uid
from uploads.models import Instance, Series, ShareLink, Study
from uploads.permissions import UPLOADERS, granted_links, visible_studies

REALM = 'Bearer realm="dicomweb"'
#: Frames and rendered images of one instance are audited once per caller in this time
#: (a viewer asks for every frame; one event per image and hour is enough to know who saw it).
QUIET_SECONDS = 3600


class Invalid(ValueError):
    """A request the client must change: answered 400 with the message."""


class NotAcceptable(ValueError):
    """No representation the client accepts: answered 406 with the message."""


@dataclass
class Caller:
    user: Any = None
    token: ApiToken | None = None
    links: list[ShareLink] = field(default_factory=list)
    via: str = "session"
    #: What the view did, for the audit event (ids and counts only, never patient data).
    detail: dict[str, Any] = field(default_factory=dict)
    #: The stored file of the instance asked for (part of the quiet audit's memory).
    file: str = ""

    def studies(self) -> QuerySet[Study]:
        """Every study this caller may read."""
        own = visible_studies(self.user) if self.user is not None else Study.objects.none()
        if not self.links:
            return own
        return own | Study.objects.filter(pk__in=[link.study_id for link in self.links])

    def may_download(self, study: Study) -> bool:
        """Whole DICOM files: who reaches the study through their account, or a link that
        allows downloads (a view-only link gets metadata, frames and rendered images, what
        the portal's viewer shows, but not the files)."""
        if self.user is not None and visible_studies(self.user).filter(pk=study.pk).exists():
            return True
        return any(link.study_id == study.pk and link.allow_download for link in self.links)

    def may_store(self) -> bool:
        return self.user is not None and getattr(self.user, "role", None) in UPLOADERS

    def principal(self, request: HttpRequest) -> str:
        """Who, for the quiet audit's memory: the token's or link's stored hash, or the
        session (never an id alone, which a restored database may give to someone else)."""
        if self.token is not None:
            return f"token:{self.token.token_hash}"
        if self.via == "share" and self.links:
            return f"link:{self.links[0].token_hash}"
        session = getattr(request, "session", None)
        return (
            f"session:{getattr(session, 'session_key', '') or '-'}:{getattr(self.user, 'pk', '-')}"
        )


def unauthorized(message: str, error: str = "") -> HttpResponse:
    response = HttpResponse(message + "\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = REALM + (f', error="{error}"' if error else "")
    return response


def identify(request: HttpRequest) -> Caller | HttpResponse:
    """The caller, or the 401 answer."""
    credential = tokens.bearer(request)
    if credential is not None:
        if credential.startswith(tokens.PREFIX):
            row = tokens.check(credential)
            if row is None:
                return unauthorized("invalid, expired or revoked token", "invalid_token")
            return Caller(user=row.owner, token=row, via="token")
        link = share_link(credential)
        if link is None:
            return unauthorized("invalid, expired or revoked token", "invalid_token")
        return Caller(links=[link], via="share")
    user = request.user if request.user.is_authenticated and request.user.is_active else None
    links = granted_links(request)
    if user is None and not links:
        return unauthorized("sign in, or send Authorization: Bearer TOKEN")
    return Caller(user=user, links=links, via="session")


def share_link(token: str) -> ShareLink | None:
    """The valid link without a passcode whose token this is (only its hash is stored)."""
    if not token or len(token) > 200:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    return ShareLink.objects.filter(
        token_hash=digest, revoked_at__isnull=True, expires_at__gt=timezone.now(), passcode_hash=""
    ).first()


# -- identifiers and look-ups ----------------------------------------------------------------


def checked_uid(value: str, what: str) -> str:
    """``value`` if it is a valid UID (PS3.5 §9.1), else :class:`Invalid`."""
    if not is_valid_uid(value):
        raise Invalid(
            f"{what} is not a valid UID (PS3.5 9.1: digits and dots, no leading zeros, "
            "at most 64 characters)"
        )
    return value


def find_study(caller: Caller, study_uid: str) -> Study:
    checked_uid(study_uid, "StudyInstanceUID")
    study = caller.studies().filter(study_instance_uid=study_uid).order_by("pk").first()
    if study is None:
        raise Http404("no such study")
    caller.detail["study"] = study.pk
    return study


def find_series(caller: Caller, study_uid: str, series_uid: str) -> Series:
    study = find_study(caller, study_uid)
    checked_uid(series_uid, "SeriesInstanceUID")
    series = study.series.filter(series_instance_uid=series_uid).first()
    if series is None:
        raise Http404("no such series")
    caller.detail["series"] = series.pk
    return series


def find_instance(caller: Caller, study_uid: str, series_uid: str, sop_uid: str) -> Instance:
    series = find_series(caller, study_uid, series_uid)
    checked_uid(sop_uid, "SOPInstanceUID")
    instance = series.instances.select_related("series__study").filter(sop_instance_uid=sop_uid)
    found = instance.first()
    if found is None:
        raise Http404("no such instance")
    caller.detail["instance"] = found.pk
    caller.file = found.file
    return found


# -- the views' wrapper ----------------------------------------------------------------------

View = Callable[..., HttpResponseBase]


def dicomweb_view(action: str, *, quiet: bool = False) -> Callable[[View], View]:
    """Identify the caller (401), turn errors into 400/404/406, audit the request once.

    ``quiet``: audited once per caller and instance per :data:`QUIET_SECONDS` (frames,
    rendered images), so a viewer scrolling through a series does not flood the log.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            caller = identify(request)
            if isinstance(caller, HttpResponse):
                return caller
            response: HttpResponseBase
            try:
                response = view(request, caller, *args, **kwargs)
            except Invalid as exc:
                response = HttpResponse(f"{exc}\n", status=400, content_type="text/plain")
            except NotAcceptable as exc:
                response = HttpResponse(f"{exc}\n", status=406, content_type="text/plain")
            except Http404 as exc:
                response = HttpResponse(f"{exc}\n", status=404, content_type="text/plain")
            done = "store" if request.method == "POST" else action  # STOW shares the URLs
            audit(request, caller, done, response.status_code, quiet=quiet)
            return response

        return wrapped

    return decorator


def audit(request: HttpRequest, caller: Caller, action: str, status: int, *, quiet: bool) -> None:
    if quiet and status == 200:
        seen = f"{caller.principal(request)}|{action}|{caller.detail.get('instance')}|{caller.file}"
        key = "dicomweb-seen:" + hashlib.sha256(seen.encode()).hexdigest()[:40]
        if not cache.add(key, 1, QUIET_SECONDS):
            return
    detail = {"via": caller.via, "status": status, **caller.detail}
    if caller.token is not None:
        detail["token"] = caller.token.pk
    if caller.via == "share":
        detail["link"] = caller.links[0].pk
    record(request, f"dicomweb.{action}", None, user=caller.user, **detail)
