"""Exports of a study's de-identified files: DICOM + DICOMDIR, PNGs, NIfTI volumes.

Each export is a ZIP built by a Celery task (``uploads.tasks_export.build_export``) into a
temporary file on local disk — instance files are copied one by one from storage into the
ZIP, never the whole study in memory — then saved with ``default_storage`` (local disk or
S3 alike) and offered for download until it expires.

* ``dicom``: the stored files unchanged (same UIDs), under ISO 9660 names
  ``PT000000/ST000000/SE000000/IM000000`` with a DICOMDIR (``uploads.dicom.formats``).
* ``png``: one PNG per frame, ``S001_CT/IM0001.png``, in slice order, with the window
  chosen (a preset, an explicit centre/width, or the file's default).
* ``nifti``: one ``S001_MR.nii.gz`` per series whose geometry is a regular stack; other
  series are listed with the reason in ``SKIPPED.txt`` and in the export's notes.

Settings (optional): ``EXPORT_LINK_HOURS`` (24) — how long a finished export can be
downloaded; ``EXPORT_TIME_LIMIT`` (3600 s) — the task's time limit.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import F, Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from pydicom.dataset import Dataset

from portal import spreadsheet
from portal.audit.log import record
from uploads import permissions
from uploads.dicom.errors import DicomInputError
from uploads.dicom.formats import (
    VolumeError,
    dicomdir_plan,
    plan_volume,
    slice_pixels,
    write_nifti,
)
from uploads.dicom.render import read_dataset, render_png
from uploads.models import (
    Export,
    ExportKind,
    ExportStatus,
    Instance,
    Series,
    ShareLink,
    Study,
)
from uploads.permissions import can_view_study, visible_studies
from uploads.viewer.rendering import SliceParams, read_instance

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
COPY_CHUNK = 1024 * 1024
ZIP64_FROM = 2**31 - 2**24


def link_hours() -> int:
    return int(settings.EXPORT_LINK_HOURS)


def time_limit() -> int:
    return int(settings.EXPORT_TIME_LIMIT)


# -- who may export and download -------------------------------------------------------------


def export_access(request: HttpRequest, study_pk: int) -> tuple[Study, ShareLink | None]:
    """The study and, for a link holder, the link; 404 unless the requester may export it.

    Accounts that may view the study may export it; a link holder only when the link
    allows downloads.
    """
    study = visible_studies(request.user).filter(pk=study_pk).first()
    if study is not None:
        return study, None
    link = permissions.download_link(request, study_pk)
    if link is None:
        raise Http404("No such study")
    return link.study, link


def exports_for(request: HttpRequest, study: Study, link: ShareLink | None) -> QuerySet[Export]:
    """The requester's own exports of the study (an account's, or this link's)."""
    if link is not None:
        return Export.objects.filter(study=study, share_link=link)
    return Export.objects.filter(study=study, created_by=request.user.pk, share_link=None)


def may_download(request: HttpRequest, export: Export) -> bool:
    """Only who asked for an export downloads it, and only while they may still see the study."""
    if export.share_link_id is not None:
        return any(
            link.pk == export.share_link_id and link.allow_download
            for link in permissions.granted_links(request)
        )
    return (
        request.user.is_authenticated
        and export.created_by_id == request.user.pk
        and can_view_study(request.user, export.study)
    )


def png_params(data: Any) -> dict[str, Any]:
    """Normalise the PNG options (``preset`` or ``wc`` + ``ww``); ValueError on nonsense."""
    preset = str(data.get("preset", "") or "")
    preset = "" if preset == "current" else preset  # "as shown now" without the page's script
    params = SliceParams.from_query(
        {"preset": preset, "wc": data.get("wc", ""), "ww": data.get("ww", "")}
    )
    if params.center is not None:
        return {"center": params.center, "width": params.width}
    return {"preset": params.preset} if params.preset else {}


def request_export(
    request: HttpRequest,
    study: Study,
    kind: str,
    params: dict[str, Any],
    link: ShareLink | None = None,
) -> tuple[Export, bool]:
    """Create an export (or return the same one still being built); True if created.

    The caller schedules the build (``tasks_export.schedule``).
    """
    if kind not in ExportKind.values:
        raise ValueError(f"unknown export kind {kind!r}")
    mine = exports_for(request, study, link)
    running = mine.filter(
        kind=kind, params=params, status__in=[ExportStatus.PENDING, ExportStatus.RUNNING]
    ).first()
    if running is not None:
        return running, False
    expires = timezone.now() + timedelta(hours=link_hours())
    if link is not None:
        expires = min(expires, link.expires_at)
    export = Export.objects.create(
        study=study,
        kind=kind,
        params=params,
        created_by_id=request.user.pk,
        share_link=link,
        expires_at=expires,
    )
    audit_object: Any = link if link is not None else export
    action = "share.export_requested" if link is not None else "export.requested"
    record(request, action, audit_object, study=study.pk, export=export.pk, kind=kind)
    return export, True


def as_json(export: Export) -> dict[str, Any]:
    from django.urls import reverse

    done = export.status == ExportStatus.DONE and not export.is_expired
    return {
        "id": export.pk,
        "kind": export.kind,
        "label": export.get_kind_display(),
        "status": "expired" if export.is_expired else export.status,
        "status_label": _("Expired") if export.is_expired else export.get_status_display(),
        "progress": export.progress,
        "error": export.error,
        "notes": export.notes,
        "size": export.size,
        "created_at": export.created_at.isoformat(),
        "expires_at": export.expires_at.isoformat(),
        "download": reverse("export-download", args=[export.pk]) if done else None,
    }


# -- building (called by the task) -----------------------------------------------------------


def claim_export(export_id: int) -> Export | None:
    """Take the export for building, or None if done, failed, expired or held by a live task."""
    now = timezone.now()
    stale = now - timedelta(seconds=time_limit() + 60)
    updated = (
        Export.objects.filter(
            Q(status=ExportStatus.PENDING) | Q(status=ExportStatus.RUNNING, started_at__lt=stale),
            pk=export_id,
            expires_at__gt=now,
        )
        .update(status=ExportStatus.RUNNING, started_at=now, progress=0, attempts=F("attempts") + 1)
    )  # fmt: skip
    if not updated:
        return None
    return Export.objects.select_related("study", "share_link").get(pk=export_id)


def release(export_id: int) -> None:
    """Give a claimed export back after a transient failure, so a retry can take it."""
    Export.objects.filter(pk=export_id, status=ExportStatus.RUNNING).update(
        status=ExportStatus.PENDING, started_at=None
    )


def fail(export_id: int, message: str) -> None:
    Export.objects.filter(pk=export_id).exclude(status=ExportStatus.DONE).update(
        status=ExportStatus.FAILED, error=message[:500], finished_at=timezone.now()
    )


def progress_reporter(export_id: int) -> Progress:
    last = {"percent": -1}

    def report(done: int, total: int) -> None:
        percent = min(99, int(100 * done / max(total, 1)))
        if percent != last["percent"]:
            last["percent"] = percent
            Export.objects.filter(pk=export_id).update(progress=percent)

    return report


def storage_name(export: Export) -> str:
    return f"exports/{export.study_id}/{export.pk}/{export.filename}"


def build(export_id: int) -> str:
    """Build the claimed export's ZIP and store it; returns the outcome for the task log."""
    export = claim_export(export_id)
    if export is None:
        return "nothing to do"
    writer = WRITERS[export.kind]
    try:
        with tempfile.TemporaryFile(suffix=".zip") as tmp:
            notes = writer(export.study, tmp, export.params, progress_reporter(export.pk))
            size = tmp.tell()
            tmp.seek(0)
            name = default_storage.save(storage_name(export), File(tmp, name=export.filename))
    except DicomInputError as exc:  # the study's files cannot give this export
        log.info("export %s (%s) failed: %s", export.pk, export.kind, exc)
        fail(export.pk, str(exc))
        return "failed"
    now = timezone.now()
    expires = now + timedelta(hours=link_hours())
    if export.share_link is not None:
        expires = min(expires, export.share_link.expires_at)
    updated = Export.objects.filter(pk=export.pk, status=ExportStatus.RUNNING).update(
        status=ExportStatus.DONE, file=name, size=size, progress=100, notes="\n".join(notes),
        finished_at=now, expires_at=expires, error="",
    )  # fmt: skip
    if not updated:  # taken over meanwhile (stale claim): keep only one file
        default_storage.delete(name)
        return "superseded"
    return "done"


# -- the writers -----------------------------------------------------------------------------


def instances_of(study: Study) -> QuerySet[Instance]:
    return Instance.objects.filter(series__study=study).order_by(
        "series__number", "series_id", "slice_position", "instance_number", "id"
    )


def read_header(instance: Instance) -> Dataset:
    with default_storage.open(instance.file, "rb") as handle:
        return read_dataset(handle, pixels=False)


def _entry(archive: zipfile.ZipFile, name: str, source: IO[bytes], size: int) -> None:
    with archive.open(name, "w", force_zip64=size >= ZIP64_FROM) as target:
        shutil.copyfileobj(source, target, COPY_CHUNK)


#: More DICOM files for a study's DICOM export, from apps that ``uploads`` does not import:
#: each callable gives PS3.10 files as bytes (``reports`` adds the measurement report of
#: the signed report, ``reports/sr.py``, registered in ``reports/apps.py``).
EXTRA_DICOM: list[Callable[[Study], list[bytes]]] = []


def write_dicom_zip(
    study: Study, out: IO[bytes], params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[str]:  # fmt: skip
    """Write the study's stored files, unchanged, and the extra files of ``EXTRA_DICOM``,
    with a DICOMDIR into a ZIP on `out`."""
    instances = list(instances_of(study))
    if not instances:
        raise DicomInputError("this study has no files to export")
    total = 2 * len(instances)
    headers = []
    for n, instance in enumerate(instances, 1):
        headers.append(read_header(instance))
        if progress:
            progress(n, total)
    extras = [data for extra in EXTRA_DICOM for data in extra(study)]
    headers.extend(read_dataset(data, pixels=False) for data in extras)
    plan = dicomdir_plan(headers, study_id=str(study.pk))
    del headers
    notes = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("DICOMDIR", plan.dicomdir)
        ids = plan.file_ids[: len(instances)]
        for n, (instance, file_id) in enumerate(zip(instances, ids, strict=True), 1):
            name = file_id or f"OTHER/F{n:07d}"
            if file_id is None:
                notes.append(f"image {instance.pk}: {plan.skipped.get(n - 1, 'not indexed')}")
            with default_storage.open(instance.file, "rb") as source:
                _entry(archive, name, source, instance.size)
            if progress:
                progress(len(instances) + n, total)
        for n, data in enumerate(extras, len(instances)):
            archive.writestr(plan.file_ids[n] or f"OTHER/X{n:07d}", data)
    return notes


def safe_part(text: str, fallback: str = "OT") -> str:
    cleaned = re.sub(r"[^A-Z0-9]", "", (text or "").upper())[:8]
    return cleaned or fallback


def series_folder(ordinal: int, series: Series) -> str:
    return f"S{ordinal:03d}_{safe_part(series.modality)}"


def write_png_zip(
    study: Study, out: IO[bytes], params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[str]:  # fmt: skip
    """One PNG per frame and series, rendered with the chosen window."""
    params = params or {}
    slice_params = SliceParams(
        center=params.get("center"), width=params.get("width"), preset=params.get("preset", "")
    )
    instances = [i for i in instances_of(study).select_related("series") if i.has_pixels]
    if not instances:
        raise DicomInputError("this study has no images to export")
    total = sum(max(i.frames, 1) for i in instances)
    ordinals: dict[int, int] = {}
    counters: dict[int, int] = {}
    notes: list[str] = []
    done = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for instance in instances:
            ordinal = ordinals.setdefault(instance.series_id, len(ordinals) + 1)
            folder = series_folder(ordinal, instance.series)
            try:
                ds = read_dataset(read_instance(instance))
                for frame in range(max(instance.frames, 1)):
                    request = SliceParams(**{**slice_params.__dict__, "frame": frame}).request()
                    png = render_png(ds, request).png
                    counters[ordinal] = counters.get(ordinal, 0) + 1
                    archive.writestr(f"{folder}/IM{counters[ordinal]:04d}.png", png)
                    done += 1
                    if progress:
                        progress(done, total)
            except DicomInputError as exc:
                notes.append(f"{folder}: image {instance.pk} left out ({exc})")
    if not counters:
        raise DicomInputError("none of the images could be rendered")
    return notes


def slices_in_order(instances: list[Instance], order: list[int]) -> Iterator[Any]:
    for index in order:
        yield slice_pixels(read_instance(instances[index]))


def write_nifti_zip(
    study: Study, out: IO[bytes], params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[str]:  # fmt: skip
    """One NIfTI-1 volume (.nii.gz) per series whose geometry allows it; a tilted or
    unevenly spaced series is resampled (listed in RESAMPLED.txt)."""
    series_list = list(study.series.order_by("number", "id"))
    instances = {s.pk: list(instances_of(study).filter(series=s)) for s in series_list}
    total = max(1, 2 * sum(len(v) for v in instances.values()))
    done = 0
    notes: list[str] = []
    resampled: list[str] = []
    written = 0
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive,
        tempfile.TemporaryDirectory(prefix="export-nifti-") as tmp,
    ):
        for ordinal, series in enumerate(series_list, 1):
            name = series_folder(ordinal, series)
            members = [i for i in instances[series.pk] if i.has_pixels]
            try:
                headers = [read_header(i) for i in members]
                done += len(members)
                plan = plan_volume(headers)
                path = Path(tmp) / f"{name}.nii.gz"
                write_nifti(plan, slices_in_order(members, plan.order), path)
                archive.write(path, f"{name}.nii.gz")
                path.unlink()
                written += 1
                if plan.description:
                    resampled.append(f"{name}: {plan.description}")
            except VolumeError as exc:
                notes.append(f"{name}: not exported as a volume: {exc}")
            except DicomInputError as exc:
                notes.append(f"{name}: not exported: {exc}")
            done += len(members)
            if progress:
                progress(done, total)
        if notes:
            archive.writestr("SKIPPED.txt", "\n".join(notes) + "\n")
        if resampled:  # not the acquired slices: interpolated onto a regular grid
            archive.writestr("RESAMPLED.txt", "\n".join(resampled) + "\n")
    if not written:
        raise DicomInputError(
            "no series can be written as a NIfTI volume: " + "; ".join(notes or ["no images"])
        )
    return notes


WRITERS: dict[str, Callable[..., list[str]]] = {
    ExportKind.DICOM: write_dicom_zip,
    ExportKind.PNG: write_png_zip,
    ExportKind.NIFTI: write_nifti_zip,
}


# -- housekeeping and batch ------------------------------------------------------------------


def purge_expired(now: datetime | None = None) -> int:
    """Delete the files of expired exports (the rows stay, as the record of what was built)."""
    now = now or timezone.now()
    count = 0
    for export in Export.objects.filter(expires_at__lte=now).exclude(file=""):
        default_storage.delete(export.file)
        Export.objects.filter(pk=export.pk).update(file="")
        count += 1
    return count


CSV_FIELDS = ["study", "pseudonym", "age", "sex", "modality", "study_date", "description"]


def metadata_row(study: Study) -> dict[str, Any]:
    """Pseudonymised metadata of a study; age and sex from its stored (de-identified) files."""
    first = instances_of(study).first()
    header = read_header(first) if first is not None else Dataset()
    return {
        "study": study.pk,
        "pseudonym": study.patient_pseudonym or str(header.get("PatientID", "")),
        "age": str(header.get("PatientAge", "") or ""),
        "sex": str(header.get("PatientSex", "") or ""),
        "modality": study.modalities,
        "study_date": study.study_date.isoformat() if study.study_date else "",
        "description": study.description,
    }


def csv_text(rows: list[dict[str, Any]], extra: list[str] | None = None) -> str:
    """``metadata.csv``: the standard columns and ``extra`` (a cohort's), through the
    project's CSV writer (``portal/spreadsheet.py``: no cell starts a formula)."""
    return spreadsheet.csv_text(CSV_FIELDS + (extra or []), rows)
