"""Share links: create and revoke (study page), open (``/s/<token>/``), the reviewer's verdict.

The link holder's viewing itself goes through the viewer's views (``uploads/viewer/views.py``),
which accept a valid grant for the study (``uploads.sharing``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.audit.log import record
from uploads import permissions
from uploads.models import ShareLink, Study, VerdictKind
from uploads.permissions import visible_studies
from uploads.sharing import links, verdicts


class ShareForm(forms.Form):
    days = forms.IntegerField(label="Valid for", required=False, min_value=1)
    passcode = forms.CharField(label="Passcode", required=False, max_length=128, strip=False)
    allow_download = forms.BooleanField(required=False)
    label = forms.CharField(label="For (note)", required=False, max_length=100)
    verdict_kind = forms.ChoiceField(
        label="The reviewer may answer", required=False, choices=VerdictKind.choices
    )
    verdict_choices = forms.CharField(
        label="Your choices", required=False, max_length=1000, widget=forms.Textarea
    )

    def __init__(self, *args: Any, default_kind: str = VerdictKind.OPINION, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.default_kind = default_kind

    def clean_verdict_kind(self) -> str:
        return str(self.cleaned_data.get("verdict_kind") or self.default_kind)

    def clean(self) -> dict[str, Any]:
        """Own choices: 2 to 6 lines of at most 60 characters (the message under the field)."""
        data = super().clean() or {}
        kind = data.get("verdict_kind")
        data["choices"] = []
        if kind == VerdictKind.CUSTOM and "verdict_choices" in data:
            try:
                data["choices"] = verdicts.parse_choices(data["verdict_choices"])
            except ValueError as exc:
                self.add_error("verdict_choices", str(exc))
        return data

    def clean_days(self) -> int:
        days = self.cleaned_data.get("days") or links.default_days()
        if days > links.max_days():
            limit = links.max_days()
            raise forms.ValidationError(f"A link can be valid for at most {limit} days.")
        return int(days)

    def clean_passcode(self) -> str:
        """Empty (no passcode), or at least ``PASSCODE_MIN_LENGTH`` characters that are not
        all spaces."""
        passcode = str(self.cleaned_data.get("passcode") or "")
        if passcode and len(passcode.strip()) < links.PASSCODE_MIN_LENGTH:
            raise forms.ValidationError(
                f"A passcode needs at least {links.PASSCODE_MIN_LENGTH} characters "
                "(or leave it empty for a link without one)."
            )
        return passcode


class PasscodeForm(forms.Form):
    passcode = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput)


def managed_study(request: HttpRequest, pk: int) -> Study:
    """The study if the user may share it (its owner, or an admin), else 404."""
    study = visible_studies(request.user).filter(pk=pk).first()
    if study is None or not links.can_manage(request.user, study):
        raise Http404("No such study")
    return study


def default_kind(request: HttpRequest) -> str:
    """What a new link asks by default: a second opinion for patients, trial eligibility
    for admins (central review)."""
    admin = getattr(request.user, "role", None) == Role.ADMIN
    return VerdictKind.TRIAL if admin else VerdictKind.OPINION


@never_cache
@require_POST
@role_required(Role.PATIENT, Role.ADMIN)
def share_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Create a link; the page shows its full URL this once (only a hash is kept)."""
    study = managed_study(request, pk)
    form = ShareForm(request.POST, default_kind=default_kind(request))
    if not form.is_valid():
        return render(
            request, "uploads/share_created.html", {"study": study, "form": form}, status=400
        )
    data = form.cleaned_data
    link, token = links.create_link(
        request, study, days=data["days"], passcode=data["passcode"],
        allow_download=data["allow_download"], label=data["label"],
        verdict_kind=data["verdict_kind"], choices=data["choices"],
    )  # fmt: skip
    context = {"study": study, "link": link, "url": links.share_url(token)}
    return render(request, "uploads/share_created.html", context)


@require_POST
@role_required(Role.PATIENT, Role.ADMIN)
def share_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(ShareLink.objects.select_related("study"), pk=pk)
    managed_study(request, link.study_id)
    if links.revoke(request, link):
        messages.success(request, "The share link was revoked: it no longer opens the study.")
    return redirect("study", link.study_id)


def message_page(request: HttpRequest, title: str, text: str, status: int) -> HttpResponse:
    return render(
        request, "uploads/share_message.html", {"title": title, "text": text}, status=status
    )


def throttled(request: HttpRequest) -> HttpResponse:
    return message_page(
        request, "Too many attempts",
        "Too many wrong links or passcodes were tried from here. Please try again later.", 429,
    )  # fmt: skip


@never_cache
@require_http_methods(["GET", "POST"])
def share_open(request: HttpRequest, token: str) -> HttpResponse:
    """Open a share link: passcode first if it has one, then the study's viewer.

    A session that already opened the link (it holds a valid grant) goes straight to the
    viewer: failures of other clients on its address never lock it out.
    """
    link = links.find_link(token)
    if link is not None and permissions.has_grant(request, link):
        return open_viewer(request, link)
    if links.is_throttled(request):
        return throttled(request)
    if link is None:
        links.record_failure(request)
        raise Http404("No such link")
    if not link.is_active:
        record(request, "share.refused", link, study=link.study_id, reason=link.state)
        return permissions.link_ended(request, link)
    if link.has_passcode:
        return passcode_step(request, link)
    return open_viewer(request, link)


def passcode_step(request: HttpRequest, link: ShareLink) -> HttpResponse:
    if links.is_throttled(request, link):
        return throttled(request)
    form = PasscodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid() and links.check_passcode(link, form.cleaned_data["passcode"]):
            return open_viewer(request, link)
        links.record_failure(request, link)
        record(request, "share.passcode_failed", link, study=link.study_id)
        form.add_error(None, "That passcode is not right.")
        status = 403
    return render(request, "uploads/share_passcode.html", {"form": form}, status=status)


def open_viewer(request: HttpRequest, link: ShareLink) -> HttpResponse:
    permissions.grant(request, link)
    links.record_open(request, link)
    return redirect("viewer", link.study_id)


@require_POST
def share_verdict(request: HttpRequest, pk: int) -> HttpResponse:
    """The link holder's answer, checked against the link's own set (``verdicts``)."""
    link = next((link for link in permissions.granted_links(request) if link.pk == pk), None)
    if link is None:
        raise Http404("No such link")
    try:
        answer = verdicts.check_answer(link, request.POST.dict())
    except verdicts.AnswerError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    verdicts.save_answer(request, link, answer)
    return redirect(reverse("viewer", args=[link.study_id]) + "?verdict=saved")
