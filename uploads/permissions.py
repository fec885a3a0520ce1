"""Who may see which study. Every view that reads a study goes through here.

Two kinds of access: an account's role (:func:`visible_studies`) and a share link's
*grant* in the browser session. Opening a valid link (``uploads.sharing``) stores the
link's id in the session; every request re-validates the grants against the database
(:func:`granted_links`), so revoking a link or its expiry ends access at once. A grant
lets its holder use the viewer of exactly that study, read-only, and download exports
when the link allows it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.accounts.models import Role
from portal.audit.log import record
from uploads.models import Instance, RequestStatus, ReviewRequest, ShareLink, Study

#: The roles that may upload (patients for themselves, admins for anybody).
UPLOADERS = (Role.PATIENT, Role.ADMIN)

SESSION_KEY = "share_grants"
#: Links whose grant this session held until they were revoked or expired: a reviewer who
#: reloads the viewer then hears why, instead of meeting the staff login page.
ENDED_KEY = "share_ended"
View = Callable[..., HttpResponseBase]


def visible_requests(user: Any) -> QuerySet[ReviewRequest]:
    """Patients: their own requests. Radiologists: the pool (waiting, unassigned) and
    those assigned to them. Admins: all."""
    if not user.is_authenticated or not user.is_active:
        return ReviewRequest.objects.none()
    if user.role == Role.ADMIN:
        return ReviewRequest.objects.all()
    if user.role == Role.RADIOLOGIST:
        return ReviewRequest.objects.filter(
            Q(status=RequestStatus.READY, assigned_to__isnull=True) | Q(assigned_to=user)
        )
    return ReviewRequest.objects.filter(owner=user)


def visible_studies(user: Any) -> QuerySet[Study]:
    """Patients: their own. Radiologists: the studies of the requests they may see (the
    pool's and theirs) and, for theirs, the same patient's other studies (same owner and
    pseudonym: the priors). Admins: all."""
    if not user.is_authenticated or not user.is_active:
        return Study.objects.none()
    if user.role == Role.ADMIN:
        return Study.objects.all()
    if user.role == Role.RADIOLOGIST:
        in_reach = visible_requests(user).filter(studies=OuterRef("pk"))
        mine = Study.objects.filter(review_requests__assigned_to=user)
        same_patient = mine.exclude(patient_pseudonym="").filter(
            owner=OuterRef("owner"), patient_pseudonym=OuterRef("patient_pseudonym")
        )
        return Study.objects.filter(Exists(in_reach) | Exists(same_patient))
    return Study.objects.filter(owner=user)


def can_view_study(user: Any, study: Study) -> bool:
    return visible_studies(user).filter(pk=study.pk).exists()


# -- grants in the session -------------------------------------------------------------------


def grant(request: HttpRequest, link: ShareLink) -> None:
    """Remember in the session that this browser opened `link` (after its passcode)."""
    grants = [int(pk) for pk in request.session.get(SESSION_KEY, []) if int(pk) != link.pk]
    request.session.cycle_key()  # a new session id for the new right (no fixation)
    request.session[SESSION_KEY] = [*grants, link.pk]
    if hasattr(request, "_share_links"):
        del request._share_links


def has_grant(request: HttpRequest, link: ShareLink) -> bool:
    return any(other.pk == link.pk for other in granted_links(request))


def granted_links(request: HttpRequest) -> list[ShareLink]:
    """The session's links that are still valid, checked against the database now.

    Grants of revoked, expired or deleted links are dropped from the session.
    """
    cached = getattr(request, "_share_links", None)
    if cached is not None:
        return list(cached)
    session = getattr(request, "session", None)
    ids = [int(pk) for pk in session.get(SESSION_KEY, [])] if session is not None else []
    links: list[ShareLink] = []
    if ids:
        links = list(
            ShareLink.objects.filter(
                pk__in=ids, revoked_at__isnull=True, expires_at__gt=timezone.now()
            ).order_by("pk")
        )
        valid = [link.pk for link in links]
        if session is not None and valid != ids:
            session[SESSION_KEY] = valid
            ended = [pk for pk in session.get(ENDED_KEY, []) if pk not in ids]
            session[ENDED_KEY] = [*ended, *(pk for pk in ids if pk not in valid)][-10:]
    request._share_links = links  # type: ignore[attr-defined]
    return list(links)


def shared_study_ids(request: HttpRequest) -> set[int]:
    """Ids of the studies this session may view through a valid share link."""
    return {link.study_id for link in granted_links(request)}


def link_for_study(request: HttpRequest, study_id: int) -> ShareLink | None:
    """The session's valid link for the study (the newest), or None."""
    links = [link for link in granted_links(request) if link.study_id == study_id]
    return links[-1] if links else None


def download_link(request: HttpRequest, study_id: int) -> ShareLink | None:
    """The session's valid link for the study that allows downloads (the newest), or None."""
    links = [
        link for link in granted_links(request) if link.study_id == study_id and link.allow_download
    ]
    return links[-1] if links else None


def share_or_login_required(view: View) -> View:
    """Like ``login_required``, but also lets a session with a valid share grant through.

    The view itself decides which study the grant covers (``viewable_study``).
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated or granted_links(request):
            return view(request, *args, **kwargs)
        ended = ended_link_page(request)
        if ended is not None:
            return ended
        return redirect_to_login(request.get_full_path())

    return wrapped


def ended_link_page(request: HttpRequest) -> HttpResponseBase | None:
    """For a visitor whose only access was a share link that has since ended: a 410 page
    saying so (revoked or expired), in place of the login page meant for accounts."""
    session = getattr(request, "session", None)
    ids = session.get(ENDED_KEY, []) if session is not None else []
    if not ids:
        return None
    return link_ended(request, ShareLink.objects.filter(pk__in=ids).order_by("-pk").first())


def link_ended(request: HttpRequest, link: ShareLink | None) -> HttpResponse:
    """The 410 page of a link that no longer opens its study, saying why: revoked,
    expired, or (deleted with its study) no longer available."""
    if link is not None and link.is_revoked:
        title = _("Link revoked")
        text = _("This link was revoked by the person who shared it. Ask them for a new one.")
    elif link is not None:
        title = _("Link expired")
        text = _("This link has expired. Ask the person who shared it for a new one.")
    else:
        title = _("Link no longer available")
        text = _("The study behind this link is no longer available.")
    context = {"title": title, "text": text}
    return render(request, "uploads/share_message.html", context, status=410)


def viewer_context(request: HttpRequest, study: Study) -> dict[str, Any]:
    """Template context of the viewer page for a link holder (empty for normal access)."""
    if can_view_study(request.user, study):
        return {}
    link = link_for_study(request, study.pk)
    if link is None:
        return {}
    return {"share": link, "viewer_base": "uploads/share_base.html"}


# -- audit of a link holder's views ------------------------------------------------------------


def note_view(request: HttpRequest, link: ShareLink, instance: Instance, what: str) -> None:
    """Audit that a link holder viewed an image (`what`: "slice", "attributes" or "rt",
    the radiotherapy overlay).

    Logged at most once per instance, kind and grant (browser session), so scrolling
    through a series does not flood the audit log.
    """
    session_key = request.session.session_key or "-"
    seen = hashlib.sha256(f"{session_key}|{link.pk}|{instance.pk}|{what}".encode()).hexdigest()
    remaining = max(60, int((link.expires_at - timezone.now()).total_seconds()))
    if cache.add(f"share-seen:{seen[:40]}", 1, remaining):
        record(request, f"share.{what}_viewed", link, study=link.study_id,
               instance=instance.pk, series=instance.series_id)  # fmt: skip
