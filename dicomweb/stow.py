"""STOW-RS (PS3.18 10.5): store instances through the same intake as an upload.

Each part of a ``multipart/related; type="application/dicom"`` request becomes a file of
a new upload of the caller (``uploads.intake.receive.receive_whole``: quota, quarantine,
a task for the ingest), which de-identifies it in a worker and stores it under a name the
server makes. Nothing a client sends decides where bytes go, and nothing is stored before
it is de-identified.

The request then waits up to ``DICOMWEB_STOW_WAIT_SECONDS`` for the ingest and answers
with the Store Instances Response Module (PS3.18 Table 10.5.3-3):

- ``ReferencedSOPSequence``: the stored instances *under their new, de-identified UIDs*
  (de-identification replaces them), each with its ``RetrieveURL`` and ``WarningReason``
  B000 (coercion of data elements); instances still in the pipeline when the wait ends
  are listed under the UIDs the client sent, without ``RetrieveURL``;
- ``FailedSOPSequence``: the refused ones under the UIDs the client sent, with
  ``FailureReason`` A700 (out of resources: quota, size), A900 (not of the study named in
  the URL) or C000 (cannot understand: not a PS3.10 file with its ``DICM`` preamble, e.g.
  a ZIP, which uploads accept but STOW does not; or refused by the ingest).

200: every instance stored; 202: some stored, failed or still in the pipeline; 409: none
stored. Each request counts as an upload started (``UPLOAD_CREATE_RATE``, 429 above it).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from pydicom import dcmread

from dicomweb import multipart
from dicomweb.access import Caller, Invalid, checked_uid
from dicomweb.attributes import element
from portal import ratelimit
from uploads.dicom.uids import is_valid_uid
from uploads.intake import receive
from uploads.intake.receiver import finish_association
from uploads.models import TERMINAL, FileStatus, Upload, UploadFile

DICOM = "application/dicom"
OUT_OF_RESOURCES = 0xA700
NOT_OF_STUDY = 0xA900
CANNOT_UNDERSTAND = 0xC000
COERCED = 0xB000
POLL_SECONDS = 0.2
SENT = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID")


def body(request: HttpRequest) -> bytes:
    """The request body, at most ``DICOMWEB_STOW_MAX_BYTES`` (413 above)."""
    limit = int(settings.DICOMWEB_STOW_MAX_BYTES)
    length = request.META.get("CONTENT_LENGTH")
    if length:
        if not length.isdigit() or int(length) > limit:
            raise TooLarge(limit)
        return request.read(int(length))
    if request.META.get("wsgi.input_terminated"):  # chunked, behind gunicorn
        data = request.META["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise TooLarge(limit)
        return bytes(data)
    return b""


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request is larger than {limit} bytes: send fewer instances at once")


def sent_uids(data: bytes) -> dict[str, str]:
    """SOP Class, SOP Instance and Study Instance UIDs as the client sent them (only to
    name the instance in the answer to this same client; never logged or stored)."""
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=list(SENT))
    except Exception:
        return {}
    out = {}
    for keyword in SENT:
        value = str(getattr(ds, keyword, "") or "")
        if is_valid_uid(value):
            out[keyword] = value
    return out


def parts_of(request: HttpRequest) -> list[bytes]:
    media = multipart.parse_media(request.headers.get("Content-Type", ""))
    if media.type != "multipart/related" or media.param("type").lower() not in ("", DICOM):
        raise Unsupported()
    parts = multipart.parse(body(request), media.param("boundary"))
    out = []
    for headers, content in parts:
        part_type = multipart.parse_media(headers.get("content-type", DICOM)).type
        if part_type != DICOM:
            raise Unsupported()
        out.append(content)
    if not out:
        raise Invalid("the request holds no instance")
    if len(out) > settings.UPLOAD_MAX_FILES:
        raise Invalid(f"at most {settings.UPLOAD_MAX_FILES} instances in one request")
    return out


class Unsupported(Exception):
    pass


def wait(files: list[UploadFile]) -> dict[int, UploadFile]:
    """The files' rows once every one is processed, or when the wait is over."""
    ids = [file.pk for file in files]
    deadline = time.monotonic() + int(settings.DICOMWEB_STOW_WAIT_SECONDS)
    while True:
        rows = {f.pk: f for f in UploadFile.objects.filter(pk__in=ids).select_related(
            "instance__series__study")}  # fmt: skip
        if all(row.status in TERMINAL for row in rows.values()) or time.monotonic() > deadline:
            return rows
        time.sleep(POLL_SECONDS)


def item(values: dict[str, Any]) -> dict[str, Any]:
    return dict(element(keyword, [value]) for keyword, value in values.items() if value)


def store(request: HttpRequest, caller: Caller, study_uid: str | None = None) -> HttpResponse:
    if not caller.may_store():
        return HttpResponse("storing needs a patient's or an administrator's account\n",
                            status=403, content_type="text/plain")  # fmt: skip
    if study_uid is not None:
        checked_uid(study_uid, "StudyInstanceUID")
    # Each request is an upload: the same limit as uploads started from the browser.
    if not ratelimit.allow("upload-create", caller.user.pk, "UPLOAD_CREATE_RATE"):
        return HttpResponse("too many uploads started; please wait a while and try again\n",
                            status=429, content_type="text/plain")  # fmt: skip
    try:
        parts = parts_of(request)
    except Unsupported:
        return HttpResponse('send multipart/related; type="application/dicom"\n', status=415,
                            content_type="text/plain")  # fmt: skip
    except TooLarge as exc:
        return HttpResponse(f"{exc}\n", status=413, content_type="text/plain")

    failed: list[dict[str, Any]] = []
    keep: list[tuple[str, bytes, dict[str, str]]] = []  # (key, bytes, sent UIDs)
    for data in parts:
        sent = sent_uids(data)
        if data[128:132] != b"DICM":  # a PS3.10 file (not a ZIP, not a bare data set)
            failed.append(failure(sent, CANNOT_UNDERSTAND))
            continue
        if study_uid is not None and sent.get("StudyInstanceUID") != study_uid:
            failed.append(failure(sent, NOT_OF_STUDY))
            continue
        keep.append((hashlib.sha256(data).hexdigest(), data, sent))

    unique: dict[str, tuple[bytes, dict[str, str]]] = {}
    for key, data, sent in keep:
        unique.setdefault(key, (data, sent))
    files: list[UploadFile] = []
    upload_id = None
    if unique:
        with transaction.atomic():
            upload = Upload.objects.create(owner=caller.user, expected_files=len(unique))
            entries = [(key, len(data)) for key, (data, _) in unique.items()]
            names = [f"DICOMweb STOW part {n + 1}" for n in range(len(entries))]
            payload = b"".join(data for data, _ in unique.values())
            files, _ = receive.receive_whole(upload, entries, payload, names=names)
        upload_id = upload.pk
        finish_association(upload.pk, len(unique))  # sealed: closes once processed
    rows = wait(files) if files else {}
    by_key = {file.key: rows.get(file.pk, file) for file in files}

    referenced: list[dict[str, Any]] = []
    pending = 0
    studies = set()
    for key, _data, sent in keep:
        row = by_key[key]
        instance = row.instance
        if row.status in (FileStatus.STORED, FileStatus.DUPLICATE) and instance is not None:
            series, study = instance.series, instance.series.study
            studies.add(study.study_instance_uid)
            uids = [study.study_instance_uid, series.series_instance_uid, instance.sop_instance_uid]
            url = request.build_absolute_uri(reverse("dicomweb-instance", args=uids))
            referenced.append(item({"ReferencedSOPClassUID": instance.sop_class_uid,
                                    "ReferencedSOPInstanceUID": instance.sop_instance_uid,
                                    "RetrieveURL": url, "WarningReason": COERCED}))  # fmt: skip
        elif row.status == FileStatus.REJECTED:
            over = row.message == receive.quota.OVER_QUOTA or row.message.startswith("too large")
            failed.append(failure(sent, OUT_OF_RESOURCES if over else CANNOT_UNDERSTAND))
        else:  # still being de-identified
            pending += 1
            referenced.append(item({"ReferencedSOPClassUID": sent.get("SOPClassUID"),
                                    "ReferencedSOPInstanceUID": sent.get("SOPInstanceUID"),
                                    "WarningReason": COERCED}))  # fmt: skip
    answer: dict[str, Any] = {}
    if len(studies) == 1:
        (uid,) = studies
        url = request.build_absolute_uri(reverse("dicomweb-study", args=[uid]))
        answer.update([element("RetrieveURL", [url])])
    if failed:
        answer.update([element("FailedSOPSequence", failed)])
    if referenced:
        answer.update([element("ReferencedSOPSequence", referenced)])
    stored = len(referenced) - pending
    status = 200 if not failed and not pending else 409 if not referenced else 202
    caller.detail.update(upload=upload_id, parts=len(parts), stored=stored,
                         pending=pending, failed=len(failed))  # fmt: skip
    return HttpResponse(json.dumps(dict(sorted(answer.items()))), status=status,
                        content_type="application/dicom+json")  # fmt: skip


def failure(sent: dict[str, str], reason: int) -> dict[str, Any]:
    return item({"ReferencedSOPClassUID": sent.get("SOPClassUID"),
                 "ReferencedSOPInstanceUID": sent.get("SOPInstanceUID"),
                 "FailureReason": reason})  # fmt: skip
