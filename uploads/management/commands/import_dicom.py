"""``manage.py import_dicom PATH... --owner EMAIL``: the upload pipeline from local files.

Folders are walked (symbolic links are not followed), ZIP archives are unpacked by the
pipeline with the same limits as browser uploads. One JSON line per study, then one with
``"study": null`` for the files that belong to no study.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.accounts.models import User
from uploads.intake import ingest
from uploads.intake.receive import receive_whole
from uploads.models import FileStatus, Upload


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

    def handle(self, *args: Any, paths: list[str], owner: str, question: str, **opts: Any) -> None:
        user = User.objects.filter(email__iexact=owner).first()
        if user is None:
            raise CommandError(f"no account with email {owner}")
        files = walk(paths)
        if not files:
            raise CommandError("no files found")
        upload = Upload.objects.create(
            owner=user, expected_files=len(files), clinical_question=question
        )
        pending: list[int] = []
        repeats: dict[int, int] = defaultdict(int)  # the same bytes again in the input
        for path in files:
            data = path.read_bytes()
            key = hashlib.sha256(data).hexdigest()
            # The way every whole file enters (quota, quarantine); the ingest runs below.
            (file,), created = receive_whole(
                upload, [(key, len(data))], data, str(path)[-255:], queue=False
            )
            if not created:  # the same bytes twice in the input: stored once
                repeats[file.pk] += 1
            elif file.status == FileStatus.RECEIVED:
                pending.append(file.pk)
        # Every file is registered: the upload closes once they are processed.
        Upload.objects.filter(pk=upload.pk).update(sealed=True)
        with transaction.atomic():
            ingest.close_if_done(Upload.objects.select_for_update(no_key=True).get(pk=upload.pk))
        more = bool(pending)
        while more:  # batch after batch; files unpacked from ZIPs join the upload
            more = ingest.process_batch(upload.pk).more
        self.report(upload, repeats)

    def report(self, upload: Upload, repeats: dict[int, int]) -> None:
        per_study: dict[int | None, dict[str, Any]] = defaultdict(
            lambda: {"instances_stored": 0, "duplicates": 0, "rejected": []}
        )
        for file in upload.files.select_related("instance__series").order_by("id"):
            study_id = file.instance.series.study_id if file.instance else None
            row = per_study[study_id]
            row["duplicates"] += repeats.get(file.pk, 0)
            if file.status == FileStatus.STORED:
                row["instances_stored"] += 1
            elif file.status == FileStatus.DUPLICATE:
                row["duplicates"] += 1
            elif file.status == FileStatus.REJECTED:
                row["rejected"].append({"file": file.name, "reason": file.message})
        for study_id in sorted(k for k in per_study if k is not None):
            self.stdout.write(json.dumps({"study": study_id, **per_study[study_id]}))
        if None in per_study and per_study[None]["rejected"]:
            self.stdout.write(json.dumps({"study": None, **per_study[None]}))
