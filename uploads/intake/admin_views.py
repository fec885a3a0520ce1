"""Admin "Uploads" page: uploads in flight, stuck or finished with problems, each upload's
files with their status and reason, and the actions on a live upload — retry, send it
as it is, cancel (``uploads/intake/lifecycle.py``), each audit-logged.

File names are never shown: they may carry the patient's name (an upload's files are
"file 1, file 2…" with the first characters of their SHA-256 key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext, ngettext_lazy
from django.views.decorators.http import require_POST

from portal.accounts.decorators import role_required
from portal.accounts.models import Role
from portal.audit.log import record
from portal.redirects import next_url
from uploads.intake import lifecycle
from uploads.intake.ingest import LIVE
from uploads.models import TERMINAL, FileStatus, Study, Upload, UploadFile

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

log = logging.getLogger(__name__)

PER_PAGE = 100
FILES_PER_PAGE = 500
#: "Finished with problems" looks this far back.
PROBLEM_DAYS = 30

#: ``?show=`` values and their labels; no value shows every upload.
FILTERS = [
    ("needs_attention", gettext_lazy("Needs attention")),
    ("open", gettext_lazy("In progress")),
    (
        "problems",
        ngettext_lazy(
            "Finished with problems (last %(days)s day)",
            "Finished with problems (last %(days)s days)",
            "days",
        )
        % {"days": PROBLEM_DAYS},
    ),
    ("cancelled", gettext_lazy("Cancelled")),
]
#: How the counts read ("2 needing attention").
COUNT_WORDS = {
    "needs_attention": gettext_lazy("needing attention"),
    "open": gettext_lazy("in progress"),
    "problems": ngettext_lazy(
        "finished with problems (last %(days)s day)",
        "finished with problems (last %(days)s days)",
        "days",
    )
    % {"days": PROBLEM_DAYS},
    "cancelled": gettext_lazy("cancelled"),
}
STATE_WORDS: dict[str, StrOrPromise] = {
    Upload.State.OPEN: gettext_lazy("In progress"),
    Upload.State.NEEDS_ATTENTION: gettext_lazy("Needs attention"),
    Upload.State.DONE: gettext_lazy("Finished"),
    Upload.State.CANCELLED: gettext_lazy("Cancelled"),
}
FILE_WORDS: dict[str, StrOrPromise] = {
    FileStatus.RECEIVING: gettext_lazy("Arriving"),
    FileStatus.RECEIVED: gettext_lazy("Waiting to be processed"),
    FileStatus.STORED: gettext_lazy("Stored"),
    FileStatus.DUPLICATE: gettext_lazy("Already stored"),
    FileStatus.EXPANDED: gettext_lazy("Archive unpacked"),
    FileStatus.REJECTED: gettext_lazy("Not used"),
}
USED = [FileStatus.STORED, FileStatus.DUPLICATE]


def files(count: int) -> str:
    """ "1 file", "3 files" in the page's language."""
    return ngettext("%(count)s file", "%(count)s files", count) % {"count": count}


@dataclass
class FileCounts:
    """An upload's files, archives not counted (their members are)."""

    stored: int = 0
    rejected: int = 0
    waiting: int = 0  # arriving, or waiting to be processed
    to_process: int = 0  # arrived, waiting to be processed (what a retry queues)
    last: datetime | None = None

    @property
    def total(self) -> int:
        return self.stored + self.rejected + self.waiting

    @property
    def words(self) -> str:
        """``14 files: 12 stored, 1 not used, 1 waiting`` (parts that are 0 left out)."""
        parts = [gettext("%(count)s stored") % {"count": self.stored}]
        if self.rejected:
            parts.append(gettext("%(count)s not used") % {"count": self.rejected})
        if self.waiting:
            parts.append(gettext("%(count)s waiting") % {"count": self.waiting})
        return f"{files(self.total)}: {', '.join(parts)}"


def file_counts(upload_ids: Iterable[int]) -> dict[int, FileCounts]:
    """Counts and last activity of the uploads' files, in one aggregate query."""
    ids = list(upload_ids)
    if not ids:
        return {}
    rows = (
        UploadFile.objects.filter(upload_id__in=ids)
        .values("upload_id")
        .annotate(
            stored=Count("id", filter=Q(status__in=USED)),
            rejected=Count("id", filter=Q(status=FileStatus.REJECTED)),
            waiting=Count("id", filter=~Q(status__in=TERMINAL)),
            to_process=Count("id", filter=Q(status=FileStatus.RECEIVED)),
            last=Max("updated_at"),
        )
        .order_by()
    )
    return {
        row["upload_id"]: FileCounts(
            row["stored"], row["rejected"], row["waiting"], row["to_process"], row["last"]
        )
        for row in rows
    }


def has_rejected() -> Exists:
    return Exists(UploadFile.objects.filter(upload_id=OuterRef("pk"), status=FileStatus.REJECTED))


def filter_q(show: str, since: datetime) -> Q:
    """The uploads a ``?show=`` value lists."""
    if show == "problems":
        return Q(state=Upload.State.DONE, created_at__gte=since) & Q(has_rejected())
    if show in {"needs_attention", "open", "cancelled"}:
        return Q(state=show)
    return Q()


def state_rank() -> Case:
    """Needs attention first, then in progress, then the rest."""
    return Case(
        When(state=Upload.State.NEEDS_ATTENTION, then=Value(0)),
        When(state=Upload.State.OPEN, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


@role_required(Role.ADMIN)
def upload_list(request: HttpRequest) -> HttpResponse:
    """Uploads, those needing attention first, then those in progress, newest first;
    ``?show=`` narrows the list (counts for each in one query)."""
    show = request.GET.get("show", "")
    if show not in dict(FILTERS):
        show = ""
    since = timezone.now() - timedelta(days=PROBLEM_DAYS)
    rows = (
        Upload.objects.filter(filter_q(show, since))
        .select_related("owner")
        .prefetch_related(
            Prefetch("studies", queryset=Study.objects.only("id", "status").order_by("pk"))
        )
        .order_by(state_rank(), "-created_at", "-id")
    )
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    counts = file_counts(upload.pk for upload in page.object_list)
    summary = Upload.objects.aggregate(
        all=Count("id"), **{key: Count("id", filter=filter_q(key, since)) for key, _ in FILTERS}
    )
    return render(
        request,
        "uploads/admin_uploads.html",
        {
            "page": page,
            "rows": [row(upload, counts.get(upload.pk, FileCounts())) for upload in page],
            "show": show,
            "filters": [(key, label, summary[key], COUNT_WORDS[key]) for key, label in FILTERS],
            "total": summary["all"],
        },
    )


def row(upload: Upload, counts: FileCounts) -> dict[str, Any]:
    return {
        "upload": upload,
        "files": counts,
        "state": STATE_WORDS.get(upload.state, upload.state),
        "last": max(filter(None, [counts.last, upload.created_at])),
        "live": upload.state in LIVE,
        # Retrying helps only when files wait to be processed: an upload whose sender
        # went away would need attention again at the watchdog's next round.
        "can_retry": upload.state in LIVE and counts.to_process > 0,
    }


def ordered_files(upload: Upload) -> QuerySet[UploadFile]:
    """Top-level files in the order they were registered, each archive followed by its
    members."""
    return (
        upload.files.select_related("parent")
        .defer("name", "parent__name")
        .order_by(Coalesce("parent_id", "id"), F("parent_id").asc(nulls_first=True), "id")
    )


def short_key(file: UploadFile) -> str:
    """The first characters of the file's SHA-256 (files the sender only listed as not
    sent have none)."""
    key = file.key
    return key[:8] if len(key) == 64 else ""


@role_required(Role.ADMIN)
def upload_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One upload: its facts, its files (500 a page) and the actions that make sense."""
    upload = get_object_or_404(Upload.objects.select_related("owner"), pk=pk)
    page = Paginator(ordered_files(upload), FILES_PER_PAGE).get_page(request.GET.get("page"))
    numbers: dict[int, int] = {}
    files = []
    for number, file in enumerate(page, start=page.start_index()):
        numbers[file.pk] = number
        parent = file.parent
        from_archive = ""
        if parent is not None:
            from_archive = (
                f"file {numbers[parent.pk]}" if parent.pk in numbers else short_key(parent)
            )
        files.append(
            {
                "file": file,
                "number": number,
                "key": short_key(file),
                "from_archive": from_archive,
                "member": parent is not None,
                "status": FILE_WORDS.get(file.status, file.status),
            }
        )
    counts = file_counts([upload.pk]).get(upload.pk, FileCounts())
    return render(
        request,
        "uploads/admin_upload.html",
        {
            "upload": upload,
            "info": row(upload, counts),
            "page": page,
            "files": files,
            "studies": upload.studies.order_by("pk"),
        },
    )


def act(request: HttpRequest, pk: int, action: Callable[[Upload], str | None]) -> HttpResponse:
    """Run an action on an upload; a database that is busy or away is a message, not an
    error page. Back to ``next`` (this site only) or the list."""
    upload = get_object_or_404(Upload, pk=pk)
    try:
        if upload.state not in LIVE:
            messages.error(request, ended(upload))
        else:
            done = action(upload)
            if done:
                messages.success(request, done)
    except Upload.DoesNotExist:  # deleted meanwhile (with its account)
        raise Http404("No such upload") from None
    except DatabaseError as exc:
        log.warning("admin upload action: database unavailable (%s)", type(exc).__name__)
        messages.error(
            request, gettext("The database is busy: nothing was changed. Please try again.")
        )
    return redirect(next_url(request, "admin-uploads"))


class Audit:
    """``on_change`` for the lifecycle: writes the audit event (ids and counts only) and
    keeps the counts for the message."""

    def __init__(self, request: HttpRequest, action: str) -> None:
        self.request = request
        self.action = action
        self.facts: dict[str, int] | None = None

    def __call__(self, upload: Upload, **facts: int) -> None:
        self.facts = facts
        record(self.request, self.action, upload, **facts)


def ended(upload: Upload) -> str:
    return gettext("Upload %(number)s has already ended (%(state)s): nothing was changed.") % {
        "number": upload.pk,
        "state": str(STATE_WORDS.get(upload.state, upload.state)).lower(),
    }


@require_POST
@role_required(Role.ADMIN)
def upload_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the upload's waiting files again; one that needed attention is open again."""

    def retry(upload: Upload) -> str:
        audit = Audit(request, "upload.retried")
        queued = lifecycle.retry(upload.pk, on_change=audit)
        if audit.facts is None:
            return ended(upload)
        if queued:
            return ngettext(
                "Upload %(number)s: %(count)s file queued again.",
                "Upload %(number)s: %(count)s files queued again.",
                queued,
            ) % {"number": upload.pk, "count": queued}
        return gettext(
            "Upload %(number)s: no file was waiting to be processed, so nothing was queued. "
            "If its sender went away, wait for them to finish it, or send it as it is."
        ) % {"number": upload.pk}

    return act(request, pk, retry)


@require_POST
@role_required(Role.ADMIN)
def upload_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the upload as it is: the files that arrived are used, the rest are not."""

    def close(upload: Upload) -> str:
        audit = Audit(request, "upload.closed")
        sealed = lifecycle.seal(upload.pk, on_change=audit, drop_incomplete=True)
        if audit.facts is None:
            return ended(upload)
        if sealed.state == Upload.State.DONE:
            studies = sealed.studies.count()
            if not studies:
                return gettext(
                    "Upload %(number)s was sent as it is: it is finished; no study came of it."
                ) % {"number": upload.pk}
            return ngettext(
                "Upload %(number)s was sent as it is: it is finished, and its study is waiting "
                "for a radiologist.",
                "Upload %(number)s was sent as it is: it is finished, and its %(count)s studies "
                "are waiting for a radiologist.",
                studies,
            ) % {"number": upload.pk, "count": studies}
        waiting = audit.facts.get("queued", 0)
        return ngettext(
            "Upload %(number)s will be finished as it is once the %(count)s file still waiting "
            "is processed.",
            "Upload %(number)s will be finished as it is once the %(count)s files still waiting "
            "are processed.",
            waiting,
        ) % {"number": upload.pk, "count": waiting}

    return act(request, pk, close)


@require_POST
@role_required(Role.ADMIN)
def upload_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel the upload: files still on their way are not used (stored ones stay)."""

    def cancel(upload: Upload) -> str:
        audit = Audit(request, "upload.cancelled")
        lifecycle.cancel(upload.pk, lifecycle.BY_ADMIN, on_change=audit)
        if audit.facts is None:
            return ended(upload)
        refused = audit.facts.get("refused", 0)
        if refused:
            return ngettext(
                "Upload %(number)s was cancelled: %(count)s file still on the way will not be "
                "used.",
                "Upload %(number)s was cancelled: %(count)s files still on the way will not be "
                "used.",
                refused,
            ) % {"number": upload.pk, "count": refused}
        return gettext("Upload %(number)s was cancelled.") % {"number": upload.pk}

    return act(request, pk, cancel)
