"""The resumable upload API used by the upload page (JSON over HTTPS).

Protocol (docs/uploads.md):
  POST /api/uploads/                      create an upload
                                          {clinical_question, urgency, expected_files,
                                          review_request (optional: the id of the
                                          uploader's own open request to add to)}
  POST /api/uploads/<id>/files/           register files [{key, name, size}] -> state of each
  PUT  /api/uploads/<id>/files/<key>      one chunk; header Upload-Offset;
                                          409 + offset if out of order;
                                          with Upload-Length (+ Upload-Name) it also registers
  POST /api/uploads/<id>/batch/           several small whole files in one request: the body
                                          is their bytes one after the other, the header
                                          Upload-Batch lists "key:size,key:size,..."
  POST /api/uploads/<id>/finish/          everything is sent {skipped: [{reason}]} (files the
                                          browser did not send, with why): the upload closes
                                          once what arrived is processed
  GET  /api/uploads/<id>/                 progress and per-file messages (?files=0: without
                                          the list of every file, for polling)
  POST /api/uploads/<id>/cancel/          stop; quarantined bytes are deleted
  GET  /api/uploads/open/                 the uploader's unfinished upload, to resume after a
                                          reload (what waits is queued again)
A file's key is the SHA-256 of the bytes sent, so the server recognises files it already has.
"""

from __future__ import annotations

import errno
import json
import logging
import re
from functools import wraps
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import ratelimit
from portal.accounts.decorators import role_required
from portal.accounts.models import User
from portal.audit.log import record
from uploads.intake import cases, lifecycle, quarantine, quota
from uploads.intake.ingest import LIVE, close_if_done, revive
from uploads.intake.keys import uploader_key
from uploads.intake.receive import receive_whole, refusal
from uploads.intake.tasks import schedule
from uploads.models import TERMINAL, FileStatus, Instance, Upload, UploadFile, Urgency
from uploads.permissions import UPLOADERS

log = logging.getLogger(__name__)

KEY = re.compile(r"^[0-9a-f]{64}$")
#: Declared sizes at or above this are nonsense (and overflow the database's bigint).
MAX_SIZE = 2**62


def error(message: str, status: int = 400, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def text(value: Any, limit: int) -> str:
    """Client text for the database: PostgreSQL refuses NUL characters."""
    return str(value).replace("\x00", "")[:limit]


def json_errors(view: Any) -> Any:
    """Unknown or foreign ids answer with a JSON 404 like every other API error; a
    database that is briefly unavailable (or busy: SQLite's lock) with a 503 the upload
    page retries, never a 500."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404 as exc:
            return error(str(exc) or "not found", 404)
        except DatabaseError as exc:
            log.warning("upload API: database unavailable (%s)", type(exc).__name__)
            response = error(gettext("the server is busy; retrying"), 503)
            response["Retry-After"] = "5"
            return response

    return wrapped


def body_json(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        return {}
    return data if isinstance(data, dict) else {}


def uploader(request: HttpRequest) -> User:
    """The signed-in uploader (the views are behind ``role_required``)."""
    assert isinstance(request.user, User)
    return request.user


def own_upload(request: HttpRequest, upload_id: int) -> Upload:
    return get_object_or_404(Upload, pk=upload_id, owner=request.user)


def file_state(file: UploadFile) -> dict[str, Any]:
    return {
        "key": file.key,
        "name": file.name,
        "size": file.size,
        "received": file.received,
        "status": file.status,
        "message": file.message,
    }


def upload_state(upload: Upload) -> dict[str, Any]:
    files = upload.files.all()
    counts = files.aggregate(
        total=Count("id", filter=Q(parent__isnull=True) & ~Q(status=FileStatus.EXPANDED)),
        children=Count("id", filter=Q(parent__isnull=False)),
        done=Count("id", filter=Q(status__in=[FileStatus.STORED, FileStatus.DUPLICATE])),
        rejected=Count("id", filter=Q(status=FileStatus.REJECTED)),
        pending=Count("id", filter=~Q(status__in=TERMINAL)),
        bytes_received=Sum("received", filter=Q(parent__isnull=True)),
    )
    return {
        "id": upload.pk,
        "state": upload.state,
        "attention": upload.attention,
        "sealed": upload.sealed,
        "expected_files": upload.expected_files,
        "counts": counts,
        # The request its studies joined (None if it was removed: see already_uploaded).
        "review_request": upload.review_request_id,
        # Done, and every image was uploaded before: the page says so.
        "already_uploaded": upload.state == Upload.State.DONE and cases.nothing_new(upload),
        "studies": [
            {
                "id": study.pk,
                "status": study.status,
                "status_display": study.get_status_display(),
                "modalities": study.modalities,
                "description": study.description,
                "images": Instance.objects.filter(series__study=study).count(),
            }
            for study in upload.studies.all()
        ],
        "rejected": [
            {"key": f.key, "name": f.name, "reason": f.message}
            for f in files.filter(status=FileStatus.REJECTED)[:500]
        ],
    }


@require_GET
@role_required(*UPLOADERS)
def config(request: HttpRequest) -> JsonResponse:
    """Settings the upload page needs, including this uploader's de-identification key."""
    return JsonResponse(
        {
            "chunk_size": settings.UPLOAD_CHUNK_SIZE,
            "batch_files": settings.UPLOAD_BATCH_FILES,
            "max_file_size": settings.UPLOAD_MAX_FILE_SIZE,
            "max_files": settings.UPLOAD_MAX_FILES,
            "deid_options": settings.DEID_OPTIONS,
            "uploader_key": uploader_key(uploader(request).pk).hex(),
        }
    )


@require_POST
@role_required(*UPLOADERS)
@json_errors
def create(request: HttpRequest) -> JsonResponse:
    if not ratelimit.allow("upload-create", request.user.pk, "UPLOAD_CREATE_RATE"):
        return error(gettext("too many uploads started; please wait a while and try again"), 429)
    data = body_json(request)
    expected = data.get("expected_files")
    if not isinstance(expected, int) or not 0 < expected <= settings.UPLOAD_MAX_FILES:
        return error(f"expected_files must be between 1 and {settings.UPLOAD_MAX_FILES}")
    urgency = data.get("urgency", Urgency.ROUTINE)
    if urgency not in Urgency.values:
        return error("urgency must be routine or urgent")
    question = text(data.get("clinical_question", ""), 5000)
    history = text(data.get("history", ""), 5000)
    with transaction.atomic():
        try:
            case = cases.choose(
                uploader(request), data.get("review_request"), question, history, urgency
            )
        except cases.RequestRefused as exc:
            return error(str(exc))
        upload = Upload.objects.create(
            owner=uploader(request),
            expected_files=expected,
            clinical_question=question,
            history=history,
            urgency=urgency,
            client_deidentified=bool(data.get("client_deidentified", False)),
            review_request=case,
        )
    record(request, "upload.created", upload, files=expected, review_request=case.pk)
    return JsonResponse(upload_state(upload), status=201)


@require_POST
@role_required(*UPLOADERS)
@json_errors
def register(request: HttpRequest, upload_id: int) -> JsonResponse:
    upload = own_upload(request, upload_id)
    if upload.state not in LIVE:
        return error(gettext("this upload is finished; start a new one"), 409)
    entries = body_json(request).get("files")
    if not isinstance(entries, list) or not entries or len(entries) > 1000:
        return error("files must be a list of 1 to 1000 {key, name, size}")
    states = []
    waiting = []
    with transaction.atomic():
        locked = Upload.objects.select_for_update(no_key=True).get(pk=upload.pk)
        revive(locked)  # the sender is back
        admission = quota.Admission(upload.owner_id)
        for entry in entries:
            key = str(entry.get("key", "")) if isinstance(entry, dict) else ""
            size = entry.get("size") if isinstance(entry, dict) else None
            name = text(entry.get("name", ""), 255) if isinstance(entry, dict) else ""
            if not KEY.match(key) or not isinstance(size, int) or not 0 <= size < MAX_SIZE:
                return error("each file needs a SHA-256 hex key and a size")
            file = UploadFile.objects.filter(upload=upload, key=key).first()
            if file is None:
                file = new_file(upload, key, name, size, admission)
            elif file.status == FileStatus.RECEIVED:
                waiting.append(file.pk)  # sent before a reload: make sure a run comes
            states.append(file_state(file))
        schedule(upload.pk, waiting)
        # Files known already or refused at once may complete the upload right here.
        close_if_done(locked)
    return JsonResponse({"files": states})


def new_file(
    upload: Upload, key: str, name: str, size: int, admission: quota.Admission
) -> UploadFile:
    """Register one file; files this uploader already stored are not sent again, and a
    file that does not fit in the quota is refused before its bytes are sent."""
    known = (
        UploadFile.objects.filter(
            upload__owner_id=upload.owner_id,
            key=key,
            status__in=[FileStatus.STORED, FileStatus.DUPLICATE],
            instance__isnull=False,
        )
        .select_related("instance__series__study")
        .first()
    )
    if known is not None and known.instance is not None:
        file = UploadFile.objects.create(
            upload=upload, key=key, name="", size=size, received=size,
            status=FileStatus.DUPLICATE, instance=known.instance,
            message="already stored: this image was uploaded before",
        )  # fmt: skip
        upload.studies.add(known.instance.series.study)
        return file
    reason = refusal(size, admission)
    if not reason:
        return UploadFile.objects.create(upload=upload, key=key, name=name, size=size)
    return UploadFile.objects.create(
        upload=upload, key=key, name=name, size=size, status=FileStatus.REJECTED, message=reason
    )


@require_http_methods(["PUT"])
@role_required(*UPLOADERS)
@json_errors
def put_chunk(request: HttpRequest, upload_id: int, key: str) -> JsonResponse:
    upload = own_upload(request, upload_id)
    if not KEY.match(key):  # only SHA-256 hex keys are ever registered
        return error("unknown file: register it first", 404)
    if upload.state == Upload.State.CANCELLED:
        return error(gettext("this upload was cancelled"), 409)
    resume(upload)
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        return error("Upload-Offset header required")
    data = request.body
    try:
        file = whole_file(request, upload, key, offset, data)
    except OSError as exc:
        return storage_error(exc, received=0)
    if file is not None:
        return JsonResponse(file_state(file))
    with transaction.atomic():
        file = UploadFile.objects.select_for_update().filter(upload=upload, key=key).first()
        if file is None:
            # Registration and first chunk in one request (the common case: small files).
            try:
                with transaction.atomic():
                    file = implicit_registration(request, upload, key)
            except IntegrityError:  # the same file registered concurrently
                file = UploadFile.objects.select_for_update().get(upload=upload, key=key)
            if file is None:
                raise Http404("unknown file: register it first")
        if file.status != FileStatus.RECEIVING:
            if file.status in TERMINAL:
                close_if_done(Upload.objects.select_for_update(no_key=True).get(pk=upload.pk))
            return JsonResponse(file_state(file))
        if offset != file.received:
            return error("offset mismatch", 409, received=file.received)
        if not data or offset + len(data) > file.size:
            return error("chunk is empty or goes past the declared size", 400)
        try:
            quarantine.save_chunk(file, offset, data)
        except OSError as exc:
            return storage_error(exc, received=file.received)
        file.received = offset + len(data)
        if file.received == file.size:
            file.status = FileStatus.RECEIVED
            schedule(upload.pk, [file.pk])
        file.save(update_fields=["received", "status", "updated_at"])
    return JsonResponse(file_state(file))


def storage_error(exc: OSError, received: int) -> JsonResponse:
    """Storage full or unreachable: the client keeps the bytes and retries later."""
    log.warning("upload: chunk not stored (%s)", type(exc).__name__)
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    response = error(
        "the server's storage is full; the upload will continue when space is freed"
        if full
        else "the server cannot store files right now; retrying",
        507 if full else 503,
        received=received,
    )
    response["Retry-After"] = "30"
    return response


def whole_file(
    request: HttpRequest, upload: Upload, key: str, offset: int, data: bytes
) -> UploadFile | None:
    """The common case, a new small file in one request: register it, keep its bytes and
    queue it in one short transaction (a look-up and an insert), as a batch of one
    (:func:`receive_whole`), instead of the general path's look-ups.

    Whether the file was stored before is left to the worker, which checks it anyway;
    the quota is checked on arrival (:func:`receive_whole`). None when the general path must
    answer: the file is known to this upload, or it is not a whole new file.
    """
    declared = request.headers.get("Upload-Length", "")
    if (
        offset != 0
        or not data
        or declared != str(len(data))
        or len(data) > settings.UPLOAD_MAX_FILE_SIZE
        or upload.state not in LIVE
    ):
        return None
    name = text(unquote(request.headers.get("Upload-Name", "")), 255)
    try:
        (file,), fresh = receive_whole(upload, [(key, len(data))], data, name)
    except IntegrityError:
        return None  # registered concurrently (a retried request): the general path answers
    return file if fresh else None  # known to this upload: the general path answers


BATCH_ENTRY = re.compile(r"^([0-9a-f]{64}):([0-9]{1,12})$")


def parse_batch(header: str, body_size: int) -> list[tuple[str, int]] | str:
    """The files of an ``Upload-Batch`` header, or what is wrong with it."""
    entries = []
    for part in header.split(","):
        match = BATCH_ENTRY.match(part.strip())
        if match is None:
            return "Upload-Batch must list key:size for each file"
        entries.append((match.group(1), int(match.group(2))))
    if not 0 < len(entries) <= settings.UPLOAD_BATCH_FILES:
        return f"a batch holds 1 to {settings.UPLOAD_BATCH_FILES} files"
    if len({key for key, _ in entries}) != len(entries):
        return "a file appears twice in the batch"
    if any(size == 0 for _, size in entries) or sum(s for _, s in entries) != body_size:
        return "the sizes in Upload-Batch do not add up to the body"
    return entries


@require_POST
@role_required(*UPLOADERS)
@json_errors
def put_batch(request: HttpRequest, upload_id: int) -> JsonResponse:
    """Several small files, each whole, in one request (the upload page sends files up to
    the chunk size this way): one request, one transaction and one insert for all."""
    upload = own_upload(request, upload_id)
    if upload.state not in LIVE:
        return error(gettext("this upload is finished; start a new one"), 409)
    resume(upload)
    if len(request.body) > settings.UPLOAD_CHUNK_SIZE:
        return error(f"a batch holds at most {settings.UPLOAD_CHUNK_SIZE} bytes", 413)
    entries = parse_batch(request.headers.get("Upload-Batch", ""), len(request.body))
    if isinstance(entries, str):
        return error(entries)
    try:
        try:
            files, _ = receive_whole(upload, entries, request.body)
        except IntegrityError:  # the same file sent concurrently by another request
            files, _ = receive_whole(upload, entries, request.body)  # now it is known
    except IntegrityError:
        return error(gettext("the same files are being sent twice at once; try again"), 409)
    except OSError as exc:
        return storage_error(exc, received=0)
    return JsonResponse({"files": [file_state(file) for file in files]})


def implicit_registration(request: HttpRequest, upload: Upload, key: str) -> UploadFile | None:
    """Register from the ``Upload-Length`` / ``Upload-Name`` headers of a first chunk."""
    try:
        size = int(request.headers.get("Upload-Length", ""))
    except ValueError:
        return None
    if upload.state not in LIVE or not KEY.match(key) or not 0 <= size < MAX_SIZE:
        return None
    name = text(unquote(request.headers.get("Upload-Name", "")), 255)
    Upload.objects.select_for_update(no_key=True).get(
        pk=upload.pk
    )  # upload, then usage: lock order
    return new_file(upload, key, name, size, quota.Admission(upload.owner_id))


@require_GET
@role_required(*UPLOADERS)
@json_errors
def status(request: HttpRequest, upload_id: int) -> JsonResponse:
    upload = own_upload(request, upload_id)
    state = upload_state(upload)
    if request.GET.get("files") != "0":  # ?files=0: counts only, for polling
        state["files"] = [file_state(f) for f in upload.files.filter(parent__isnull=True)[:20000]]
    return JsonResponse(state)


@require_GET
@role_required(*UPLOADERS)
@json_errors
def open_upload(request: HttpRequest) -> JsonResponse:
    """The uploader's unfinished upload (open, or needing attention), to resume it. What
    waits to be processed is queued again: a reload never leaves files waiting."""
    upload = Upload.objects.filter(owner=uploader(request), state__in=LIVE).first()
    if upload is None:
        return JsonResponse({"upload": None})
    waiting = upload.files.filter(status=FileStatus.RECEIVED).values_list("pk", flat=True)
    with transaction.atomic():
        schedule(upload.pk, list(waiting[:10000]))
    return JsonResponse({"upload": upload_state(upload)})


def resume(upload: Upload) -> None:
    """Files arrive for an upload that needed attention: it is open again."""
    if upload.state == Upload.State.NEEDS_ATTENTION:
        with transaction.atomic():
            revive(Upload.objects.select_for_update(no_key=True).get(pk=upload.pk))
        upload.refresh_from_db()


#: Reasons the browser gives for files it did not send are shown as they are: plain text.
SKIPPED_REASON = 300


@require_POST
@role_required(*UPLOADERS)
@json_errors
def finish(request: HttpRequest, upload_id: int) -> JsonResponse:
    """The sender has sent everything; ``skipped`` lists the files it did not send (not
    DICOM, could not be de-identified, failed to send), each with its reason and no name
    (names stay on the uploader's computer). The upload closes once what arrived is
    processed. Idempotent: a retried request records the skipped files once."""
    upload = own_upload(request, upload_id)
    if upload.state not in LIVE:
        return JsonResponse(upload_state(upload))
    skipped = body_json(request).get("skipped", [])
    if not isinstance(skipped, list) or len(skipped) > settings.UPLOAD_MAX_FILES:
        return error(f"skipped must be a list of at most {settings.UPLOAD_MAX_FILES} files")
    reasons = [
        text(entry.get("reason", ""), SKIPPED_REASON) if isinstance(entry, dict) else ""
        for entry in skipped
    ]
    locked = lifecycle.seal(
        upload.pk,
        reasons,
        on_change=lambda sealed, **facts: record(request, "upload.finished", sealed, **facts),
    )
    return JsonResponse(upload_state(locked))


@require_POST
@role_required(*UPLOADERS)
@json_errors
def cancel(request: HttpRequest, upload_id: int) -> JsonResponse:
    upload = own_upload(request, upload_id)
    upload = lifecycle.cancel(
        upload.pk,
        lifecycle.BY_UPLOADER,
        on_change=lambda cancelled, **facts: record(
            request, "upload.cancelled", cancelled, **facts
        ),
    )
    return JsonResponse(upload_state(upload))
