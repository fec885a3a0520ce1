"""The admin page "Import from PACS": the peers (add one, check it with C-ECHO), start an
import (a Celery task), and each import's progress."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from pacs import service, tasks
from pacs.forms import ImportForm, PeerForm
from pacs.models import PacsImport, PacsPeer
from portal.accounts.decorators import role_required
from portal.accounts.models import Role, User
from portal.audit.log import record


@role_required(Role.ADMIN)
def imports(request: HttpRequest) -> HttpResponse:
    return page(request, ImportForm(), PeerForm())


def page(
    request: HttpRequest, form: ImportForm, peer_form: PeerForm, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "pacs/imports.html",
        {
            "form": form,
            "peer_form": peer_form,
            "peers": PacsPeer.objects.all(),
            "imports": PacsImport.objects.select_related("owner")[:50],
            "calling_ae": settings.PACS_AE_TITLE,
        },
        status=status,
    )


@require_POST
@role_required(Role.ADMIN)
def start(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return page(request, form, PeerForm(), status=400)
    data = form.cleaned_data
    admin = request.user if isinstance(request.user, User) else None
    try:
        job = service.create_import(
            pacs=data["peer"], owner=data["owner"], since=data["since"], until=data["until"],
            modality=data["modality"], cohort=data["patients"], requested_by=admin,
        )  # fmt: skip
    except service.PacsInputError as exc:
        form.add_error(None, str(exc))
        return page(request, form, PeerForm(), status=400)
    record(request, "pacs.import_started", job, peer=job.peer_label, listed=job.listed)
    tasks.schedule(job.pk)
    messages.success(request, gettext("Import %(number)s started.") % {"number": job.pk})
    return redirect("pacs-import", pk=job.pk)


@role_required(Role.ADMIN)
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(PacsImport.objects.select_related("owner", "peer"), pk=pk)
    studies = job.studies.select_related("study").order_by("pk")[:500]
    return render(request, "pacs/import.html", {"job": job, "studies": studies})


@require_POST
@role_required(Role.ADMIN)
def restart(request: HttpRequest, pk: int) -> HttpResponse:
    """Run a finished or failed import again: studies imported before are skipped."""
    job = get_object_or_404(PacsImport, pk=pk)
    changed = PacsImport.objects.filter(
        pk=pk, state__in=[PacsImport.State.DONE, PacsImport.State.FAILED]
    ).update(state=PacsImport.State.QUEUED, message="", finished_at=None)
    if changed:
        record(request, "pacs.import_restarted", job)
        tasks.schedule(job.pk)
        messages.success(
            request,
            gettext("Import %(number)s runs again; imported studies are skipped.")
            % {"number": job.pk},
        )
    else:
        messages.error(request, gettext("Import %(number)s is still running.") % {"number": job.pk})
    return redirect("pacs-import", pk=job.pk)


@require_POST
@role_required(Role.ADMIN)
def add_peer(request: HttpRequest) -> HttpResponse:
    form = PeerForm(request.POST)
    if not form.is_valid():
        return page(request, ImportForm(), form, status=400)
    peer = form.save()
    record(request, "pacs.peer_added", peer, ae_title=peer.ae_title)
    messages.success(
        request,
        gettext("PACS %(name)s added. Check it with the C-ECHO button.") % {"name": peer.name},
    )
    return redirect("pacs-imports")


@require_POST
@role_required(Role.ADMIN)
def echo(request: HttpRequest, pk: int) -> HttpResponse:
    peer = get_object_or_404(PacsPeer, pk=pk)
    ok, message = service.echo(peer)
    record(request, "pacs.echo", peer, ok=ok)
    (messages.success if ok else messages.error)(request, f"{peer.name}: {message}")
    return redirect("pacs-imports")
