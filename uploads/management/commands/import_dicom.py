"""``manage.py import_dicom PATH... --owner EMAIL [--jobs N]``: the upload pipeline from
local files.

Folders are walked (symbolic links are not followed), ZIP archives are unpacked by the
pipeline with the same limits as browser uploads. One JSON line per study, then one with
``"study": null`` for the files that belong to no study.

Files are registered in batches, as the upload page sends them (``receive_whole``: quota,
quarantine), then ingested by ``--jobs`` processes at once on PostgreSQL (each claims its
own batches, ``ingest.claim_files``); on SQLite, inside a transaction, or when called
from a process with other threads (forking it could deadlock), by this process alone.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction

from portal.accounts.models import User
from uploads.intake import cases, ingest
from uploads.intake.receive import ingest_here, outcomes_by_study, receive_whole
from uploads.models import Upload


def batches(files: list[Path]) -> Iterator[list[tuple[Path, bytes]]]:
    """The files with their bytes, grouped as the upload page groups them: up to
    ``UPLOAD_BATCH_FILES`` files and ``UPLOAD_CHUNK_SIZE`` bytes (a larger file alone)."""
    batch: list[tuple[Path, bytes]] = []
    size = 0
    for path in files:
        data = path.read_bytes()
        full = len(batch) >= settings.UPLOAD_BATCH_FILES
        if batch and (full or size + len(data) > settings.UPLOAD_CHUNK_SIZE):
            yield batch
            batch, size = [], 0
        batch.append((path, data))
        size += len(data)
    if batch:
        yield batch


def walk(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_symlink():
            continue
        if path.is_dir():
            for root, dirs, names in os.walk(path, followlinks=False):
                dirs.sort()
                for name in sorted(names):
                    candidate = Path(root) / name
                    if not candidate.is_symlink() and candidate.is_file():
                        files.append(candidate)
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{raw}: no such file or folder")
    return files


class Command(BaseCommand):
    help = "Import DICOM files, folders or ZIPs for an owner through the ingest pipeline."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--owner", required=True, help="Email of the owning account")
        parser.add_argument("--question", default="", help="Clinical question for the studies")
        parser.add_argument(
            "--jobs", type=int, default=os.cpu_count() or 1,
            help="Processes that ingest at once (PostgreSQL only; default: one per core)",
        )  # fmt: skip

    def handle(
        self, *args: Any, paths: list[str], owner: str, question: str, jobs: int, **opts: Any
    ) -> None:
        user = User.objects.filter(email__iexact=owner).first()
        if user is None:
            raise CommandError(f"no account with email {owner}")
        files = walk(paths)
        if not files:
            raise CommandError("no files found")
        # A question is a review request of its own (also about studies imported before).
        asked = cases.choose(user, None, question, "", "routine") if question.strip() else None
        upload = Upload.objects.create(
            owner=user, expected_files=len(files), clinical_question=question, review_request=asked
        )
        again: dict[str, int] = defaultdict(int)  # the same bytes again in the input
        seen: set[str] = set()
        for batch in batches(files):
            entries, names, data = [], [], []
            for path, content in batch:
                key = hashlib.sha256(content).hexdigest()
                if key in seen:  # the same bytes twice in the input: stored once
                    again[key] += 1
                    continue
                seen.add(key)
                entries.append((key, len(content)))
                names.append(str(path)[-255:])
                data.append(content)
            # The way every whole file enters (quota, quarantine); the ingest runs below.
            receive_whole(upload, entries, b"".join(data), queue=False, names=names)
        keys = dict(upload.files.filter(key__in=list(again)).values_list("key", "pk"))
        repeats = {keys[key]: count for key, count in again.items()}
        # Every file is registered: the upload closes once they are processed.
        Upload.objects.filter(pk=upload.pk).update(sealed=True)
        with transaction.atomic():
            ingest.close_if_done(Upload.objects.select_for_update(no_key=True).get(pk=upload.pk))
        parallel = (
            jobs > 1
            and connection.vendor == "postgresql"
            and not connection.in_atomic_block
            and threading.active_count() == 1  # forking a threaded process can deadlock
        )
        if parallel:
            self.ingest_in_parallel(upload.pk, jobs)
        ingest_here(upload.pk)  # what is left (all of it when not in parallel)
        self.report(upload, repeats)

    def ingest_in_parallel(self, upload_id: int, jobs: int) -> None:
        """``jobs`` forked processes drain the upload; each has its own connections."""
        connections.close_all()
        context = multiprocessing.get_context("fork")
        workers = [context.Process(target=ingest_here, args=(upload_id,)) for _ in range(jobs)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
            if worker.exitcode:
                print(f"an ingest process ended with code {worker.exitcode}", file=sys.stderr)

    def report(self, upload: Upload, repeats: dict[int, int]) -> None:
        per_study = outcomes_by_study(upload, repeats)
        for study_id in sorted(k for k in per_study if k is not None):
            self.stdout.write(json.dumps({"study": study_id, **per_study[study_id]}))
        if None in per_study and per_study[None]["rejected"]:
            self.stdout.write(json.dumps({"study": None, **per_study[None]}))
