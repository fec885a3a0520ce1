"""Importing a cohort from a PACS: plain functions that the command
(``manage.py import_from_pacs``), the Celery task (``pacs.tasks``) and the admin page
(``pacs.views``) all call.

1. :func:`create_import` checks the inputs and records the import (a
   :class:`~pacs.models.PacsImport` row); a cohort list is kept only as the listed
   patients' pseudonyms with their extra columns (:class:`~pacs.models.CohortRow`).
2. :func:`run_import` asks the PACS for the studies in the date range (C-FIND), keeps
   those of listed patients (their Patient ID's pseudonym is in the list), skips those
   imported before (:func:`study_key`) and retrieves the others with C-GET,
   ``PACS_JOBS`` at a time. Each study becomes one upload: the instances enter the way
   every whole file enters (``receive_whole``: quota, quarantine), are de-identified and
   stored by the ingest in this process, and the original bytes leave quarantine.

Original identifiers (Patient IDs, UIDs) are held in memory only; they are not stored,
printed or logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from pacs import dimse
from pacs.models import CohortRow, ImportedStudy, PacsImport, PacsPeer
from portal.accounts.models import User
from uploads.dicom.uids import patient_pseudonym
from uploads.intake.keys import server_key
from uploads.intake.receive import ingest_here, outcomes_by_study, receive_whole
from uploads.intake.receiver import finish_association
from uploads.models import Study, Upload
from uploads.sharing.cohort import Cohort

log = logging.getLogger(__name__)

#: Received files are named "C-GET from <PACS AE> #<n>" (no patient data).
NAME_PREFIX = "C-GET from "

#: Called with one line of progress for a person (the command prints it on stderr).
Say = Callable[[str], None]


class PacsInputError(ValueError):
    """An import cannot start: the message says which input is wrong."""


def calling_ae() -> str:
    """The portal's own AE title when it calls a PACS (``PACS_AE_TITLE``)."""
    try:
        return dimse.check_ae_title(settings.PACS_AE_TITLE, "PACS_AE_TITLE")
    except dimse.InvalidPeer as exc:
        raise PacsInputError(str(exc)) from exc


def timeouts() -> dimse.Timeouts:
    return dimse.Timeouts(
        connect=float(settings.PACS_CONNECT_TIMEOUT), network=float(settings.PACS_TIMEOUT)
    )


def study_key(owner_id: int, study_uid: str) -> str:
    """What the portal remembers of an imported study: an HMAC of its original Study
    Instance UID under the server's de-identification key, per account."""
    message = f"pacs-study\x00{owner_id}\x00{study_uid}".encode()
    return hmac.new(server_key(), message, hashlib.sha256).hexdigest()


def pseudonym_of(patient_id: str) -> str:
    """The pseudonym the ingest gives a patient with this original Patient ID (the
    server key; ``uploads/dicom/deidentify.py``, ``patient_identity``)."""
    return patient_pseudonym(f"id:{patient_id}", key=server_key())


# -- 1. checking the inputs and recording the import -------------------------------------------


def echo(peer: PacsPeer) -> tuple[bool, str]:
    """C-ECHO the peer and record the outcome on it: (answered, message)."""
    try:
        dimse.echo(peer.as_peer(), calling_ae(), timeouts())
        ok, message = True, f"{peer.as_peer()} answered (C-ECHO)"
    except (dimse.DimseError, PacsInputError) as exc:
        ok, message = False, str(exc)
    PacsPeer.objects.filter(pk=peer.pk).update(
        echo_at=timezone.now(), echo_ok=ok, echo_message=message[:500]
    )
    return ok, message


def create_import(
    *,
    pacs: str | PacsPeer,
    owner: User,
    since: dt.date,
    until: dt.date | None = None,
    modality: str = "",
    cohort: Cohort | None = None,
    requested_by: User | None = None,
) -> PacsImport:
    """Check the inputs and record the import, queued (the caller runs it).

    ``pacs`` is a configured peer or ``AE_TITLE@HOST:PORT``. Raises PacsInputError with a
    message naming the wrong input.
    """
    try:
        peer = pacs.as_peer() if isinstance(pacs, PacsPeer) else dimse.parse_peer(pacs)
        dimse.check_ae_title(peer.ae_title)
        dimse.check_host(peer.host)
        dimse.check_port(peer.port)
    except dimse.InvalidPeer as exc:
        raise PacsInputError(f"PACS address: {exc}") from exc
    try:
        modality = dimse.check_modality(modality)
    except dimse.InvalidPeer as exc:
        raise PacsInputError(str(exc)) from exc
    if until is not None and until < since:
        raise PacsInputError(f"the end date {until} is before the start date {since}")
    calling_ae()
    rows = [] if cohort is None else cohort_rows(cohort)
    with transaction.atomic():
        job = PacsImport.objects.create(
            peer=pacs if isinstance(pacs, PacsPeer) else None,
            peer_label=str(peer), owner=owner, requested_by=requested_by, since=since,
            until=until, modality=modality, cohort=cohort is not None,
            listed=len(rows),
        )  # fmt: skip
        for row in rows:
            row.pacs_import = job
        CohortRow.objects.bulk_create(rows)
    return job


def cohort_rows(cohort: Cohort) -> list[CohortRow]:
    """The list as pseudonyms with their extra columns: the original IDs stay in memory."""
    return [
        CohortRow(pseudonym=pseudonym_of(patient), columns=dict(columns))
        for patient, columns in cohort.rows.items()
    ]


# -- 2. running it -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one run ended. ``lines`` are the JSON lines of the command (no PHI)."""

    matched: int = 0
    selected: int = 0
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    more: bool = False  # the run stopped at its deadline; studies are left
    retriable: list[str] = field(default_factory=list)  # messages of retriable failures
    lines: list[dict[str, Any]] = field(default_factory=list)


def run_import(
    job: PacsImport,
    *,
    jobs: int | None = None,
    say: Say | None = None,
    emit: Callable[[dict[str, Any]], None] | None = None,
    deadline: float | None = None,
) -> Outcome:
    """Query, select and retrieve (see the module's docstring), updating ``job``'s
    progress. ``emit`` gets one dict per study as it ends; ``say`` progress lines;
    after ``deadline`` (``time.monotonic()``) no new study is started.

    Raises dimse.DimseError when the PACS cannot be queried (``retriable`` says whether
    trying later may help).
    """
    say = say or (lambda text: None)
    emit = emit or (lambda line: None)
    peer = dimse.parse_peer(job.peer_label)
    start = time.monotonic()
    PacsImport.objects.filter(pk=job.pk).update(
        state=PacsImport.State.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    found = dimse.find_studies(
        peer, calling_ae(), since=job.since.strftime("%Y%m%d"),
        until=job.until.strftime("%Y%m%d") if job.until else "", modality=job.modality,
        limit=settings.PACS_MAX_STUDIES, timeouts=timeouts(),
    )  # fmt: skip
    outcome = Outcome(matched=len(found))
    listed = set(job.rows.values_list("pseudonym", flat=True)) if job.cohort else None
    chosen = [s for s in found if listed is None or pseudonym_of(s.patient_id) in listed]
    outcome.selected = len(chosen)
    done = dict(ImportedStudy.objects.filter(owner=job.owner_id).values_list("key", "study_id"))
    todo = []
    for study in chosen:
        known = done.get(study_key(job.owner_id, study.study_uid))
        if known is None:
            todo.append(study)
        else:
            outcome.skipped += 1
            line = {"study": known, "skipped": "imported before"}
            outcome.lines.append(line)
            emit(line)
    PacsImport.objects.filter(pk=job.pk).update(
        matched=outcome.matched, selected=outcome.selected, skipped=outcome.skipped,
        imported=0, failed=0, instances=0, received=0,
    )  # fmt: skip
    say(
        f"{peer}: {outcome.matched} studies matched, {outcome.selected} selected, "
        f"{outcome.skipped} imported before, {len(todo)} to retrieve"
    )
    retrieve_all(job, peer, todo, outcome, jobs or settings.PACS_JOBS, say, emit, deadline)
    seconds = time.monotonic() - start
    say(
        f"{outcome.imported} imported, {outcome.skipped} skipped, {outcome.failed} failed "
        f"in {seconds:.1f} s"
    )
    return outcome


def retrieve_all(
    job: PacsImport,
    peer: dimse.Peer,
    todo: list[dimse.FoundStudy],
    outcome: Outcome,
    jobs: int,
    say: Say,
    emit: Callable[[dict[str, Any]], None],
    deadline: float | None,
) -> None:
    """Retrieve the studies, at most ``jobs`` at once (threads: the work is mostly
    waiting for the network; each thread has its own database connection)."""
    pending = list(reversed(todo))
    running: dict[Future[dict[str, Any]], int] = {}
    number = 0
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="pacs-get") as pool:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                # Past the deadline no new study starts, but every run imports one at
                # least (so a chain of runs always ends).
                if number and deadline is not None and time.monotonic() > deadline:
                    outcome.more = True
                    pending.clear()
                    break
                number += 1
                running[pool.submit(import_one, job, peer, pending.pop())] = number
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                position = running.pop(future)
                line = future.result()
                record(job, line, outcome)
                outcome.lines.append(line)
                emit({k: v for k, v in line.items() if not k.startswith("_")})
                say(progress_text(position, len(todo), line))


def progress_text(position: int, total: int, line: dict[str, Any]) -> str:
    if "error" in line:
        return f"[{position}/{total}] failed: {line['error']}"
    return (
        f"[{position}/{total}] study {line['study']}: {line['instances_stored']} instances "
        f"stored, {line['duplicates']} already there, {len(line['rejected'])} refused "
        f"({line['_seconds']:.1f} s)"
    )


def record(job: PacsImport, line: dict[str, Any], outcome: Outcome) -> None:
    if "error" in line:
        outcome.failed += 1
        if line.get("_retriable"):
            outcome.retriable.append(line["error"])
        PacsImport.objects.filter(pk=job.pk).update(
            failed=F("failed") + 1, message=line["error"][:500]
        )
    else:
        outcome.imported += 1
        PacsImport.objects.filter(pk=job.pk).update(
            imported=F("imported") + 1, instances=F("instances") + line["instances_stored"]
        )


def import_one(job: PacsImport, peer: dimse.Peer, study: dimse.FoundStudy) -> dict[str, Any]:
    """Retrieve, receive and ingest one study (in a worker thread); its JSON line."""
    start = time.monotonic()
    try:
        return retrieve_study(job, peer, study) | {"_seconds": time.monotonic() - start}
    except dimse.DimseError as exc:
        return {"study": None, "error": str(exc), "_retriable": exc.retriable}
    except Exception as exc:  # a fault of ours or of the database: this study only
        log.exception("PACS import %s: a study failed (%s)", job.pk, type(exc).__name__)
        return {"study": None, "error": f"not imported ({type(exc).__name__})", "_retriable": True}
    finally:
        connection.close()  # this thread's own connection


class Receiving:
    """Instances arriving on the C-GET association (its thread) are queued; the caller's
    thread registers them in batches as the upload page sends them (``receive_whole``:
    up to ``UPLOAD_BATCH_FILES`` files and ``UPLOAD_CHUNK_SIZE`` bytes), and counts them on
    the import's row (the page's progress within a study)."""

    def __init__(self, upload: Upload, pacs_ae: str, import_id: int) -> None:
        self.upload = upload
        self.pacs_ae = pacs_ae
        self.import_id = import_id
        self.arrived: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.pending: list[bytes] = []
        self.keys: set[str] = set()

    def put(self, data: bytes) -> None:
        self.arrived.put(data)

    def flush(self, final: bool = False) -> None:
        """Register full batches of what has arrived; with ``final``, all of it."""
        while True:
            try:
                self.pending.append(self.arrived.get_nowait())
            except queue.Empty:
                break
        batch: list[bytes] = []
        size = 0
        for data in self.pending:
            if batch and (
                len(batch) >= settings.UPLOAD_BATCH_FILES
                or size + len(data) > settings.UPLOAD_CHUNK_SIZE
            ):
                self.register(batch)
                batch, size = [], 0
            batch.append(data)
            size += len(data)
        full = len(batch) >= settings.UPLOAD_BATCH_FILES or size >= settings.UPLOAD_CHUNK_SIZE
        if batch and (final or full):
            self.register(batch)
            batch = []
        self.pending = batch

    def register(self, batch: list[bytes]) -> None:
        entries, names, kept = [], [], []
        for data in batch:
            key = hashlib.sha256(data).hexdigest()
            if key in self.keys:
                continue
            self.keys.add(key)
            entries.append((key, len(data)))
            names.append(f"{NAME_PREFIX}{self.pacs_ae} #{len(self.keys)}")
            kept.append(data)
        if entries:
            receive_whole(self.upload, entries, b"".join(kept), queue=False, names=names)
            PacsImport.objects.filter(pk=self.import_id).update(
                received=F("received") + len(entries)
            )


def retrieve_study(job: PacsImport, peer: dimse.Peer, study: dimse.FoundStudy) -> dict[str, Any]:
    """C-GET the study into one upload of the job's owner, ingest it here, and remember
    it (``ImportedStudy``) once something of it is stored."""
    upload = Upload.objects.create(owner_id=job.owner_id, expected_files=settings.UPLOAD_MAX_FILES)
    receiving = Receiving(upload, peer.ae_title, job.pk)
    error: dimse.DimseError | None = None
    counts: dict[str, int] = {}
    try:
        counts = dimse.get_study(
            peer, calling_ae(), study.study_uid, receiving.put, sop_classes=study.sop_classes,
            timeouts=timeouts(), progress=lambda done, total: receiving.flush(),
        )  # fmt: skip
    except dimse.DimseError as exc:
        error = exc  # what arrived is kept; a re-run retrieves the study again
    finally:  # also when the database failed: the upload is sealed, never left open
        try:
            receiving.flush(final=True)
        finally:
            finish_association(upload.pk, len(receiving.keys))  # deleted when empty
    if receiving.keys:
        ingest_here(upload.pk)
    line: dict[str, Any] = study_line(upload) if receiving.keys else {"study": None}
    if error is not None:
        raise error
    if counts.get("failed"):
        line["pacs_failed"] = counts["failed"]
    if line["study"] is None:
        reasons = {r["reason"] for r in line.get("rejected", [])}
        raise dimse.DimseError(
            f"{peer} sent {len(receiving.keys)} instances, none could be stored"
            + (f" ({counts.get('failed', 0)} not sent)" if counts.get("failed") else "")
            + (f": {'; '.join(sorted(reasons))[:300]}" if reasons else ""),
            retriable=bool(counts.get("failed")),
        )
    ImportedStudy.objects.get_or_create(
        owner_id=job.owner_id, key=study_key(job.owner_id, study.study_uid),
        defaults={"study_id": line["study"], "pacs_import": job,
                  "instances": line["instances_stored"] + line["duplicates"]},
    )  # fmt: skip
    return line


def study_line(upload: Upload) -> dict[str, Any]:
    """The study the upload made, with what became of its files (as ``import_dicom``
    reports it). A retrieve brings one study; files that made none count with it."""
    per_study = outcomes_by_study(upload)
    study = min((k for k in per_study if k is not None), default=None)
    if study is None:  # every file a duplicate of an earlier copy, or rejected
        study = Study.objects.filter(uploads=upload).values_list("pk", flat=True).first()
    line: dict[str, Any] = {"study": study, "instances_stored": 0, "duplicates": 0, "rejected": []}
    for row in per_study.values():
        line["instances_stored"] += row["instances_stored"]
        line["duplicates"] += row["duplicates"]
        line["rejected"] += row["rejected"]
    return line


# -- the export's metadata CSV ----------------------------------------------------------------


def cohort_columns(studies: list[Study]) -> tuple[list[str], dict[int, dict[str, str]]]:
    """The columns of cohort lists imported for these studies' accounts, by study id
    (matched by pseudonym; the latest import's row wins)."""
    pseudonyms = {s.patient_pseudonym for s in studies if s.patient_pseudonym}
    owners = {s.owner_id for s in studies}
    rows = (
        CohortRow.objects.filter(pseudonym__in=pseudonyms, pacs_import__owner__in=owners)
        .select_related("pacs_import")
        .order_by("pacs_import__created_at", "pk")
    )
    latest: dict[tuple[int, str], dict[str, str]] = {}
    columns: list[str] = []
    for row in rows:
        latest[(row.pacs_import.owner_id, row.pseudonym)] = row.columns
        columns += [name for name in row.columns if name not in columns]
    found = {
        s.pk: latest[(s.owner_id, s.patient_pseudonym)]
        for s in studies
        if (s.owner_id, s.patient_pseudonym) in latest
    }
    return (columns if found else []), found


# -- the task status row -------------------------------------------------------------------


def claim(import_id: int) -> bool:
    """Take the import for this run: it is waiting, or its last run went silent (killed)
    for longer than the task's time limit. False when another run has it or it ended."""
    stale = timezone.now() - dt.timedelta(seconds=settings.PACS_TIME_LIMIT + 60)
    waiting = PacsImport.objects.filter(pk=import_id).filter(
        Q(state__in=[PacsImport.State.QUEUED, PacsImport.State.RETRYING])
        | Q(state=PacsImport.State.RUNNING, updated_at__lt=stale)
    )
    return bool(waiting.update(state=PacsImport.State.RUNNING, updated_at=timezone.now()))


def finish(import_id: int, state: str, message: str) -> None:
    ended = state in (PacsImport.State.DONE, PacsImport.State.FAILED)
    PacsImport.objects.filter(pk=import_id).update(
        state=state, message=message[:500], finished_at=timezone.now() if ended else None
    )


def summary(outcome: Outcome) -> str:
    text = (
        f"{outcome.imported} imported, {outcome.skipped} imported before, "
        f"{outcome.failed} failed (of {outcome.selected} selected, {outcome.matched} matched)"
    )
    if outcome.retriable:
        text += f"; last error: {outcome.retriable[-1]}"
    return text
