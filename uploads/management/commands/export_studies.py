"""``manage.py export_studies --since DATE [--owner EMAIL] --out DIR``: batch export.

For every study uploaded on or after DATE (optionally of one owner) that has finished
processing, writes ``study-<id>-dicom.zip`` — the same ZIP as the study page's DICOM
export: the de-identified files unchanged, with a DICOMDIR — and one ``metadata.csv`` of
pseudonymised metadata: pseudonym, age, sex (read from the stored, de-identified files),
modality, study date (as shifted) and description. One JSON line per study on stdout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from portal.accounts.models import User
from uploads import exports
from uploads.dicom.errors import DicomInputError
from uploads.models import Study, StudyStatus

#: Studies still being uploaded or processed are left out.
INCOMPLETE = [StudyStatus.UPLOADING, StudyStatus.PROCESSING]


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--since must be a date like 2025-01-31, not {text!r}") from exc


class Command(BaseCommand):
    help = "Export studies (DICOM ZIP with DICOMDIR each) and a CSV of pseudonymised metadata."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="Uploaded on or after (YYYY-MM-DD)")
        parser.add_argument("--owner", help="Only the studies of this account (email)")
        parser.add_argument("--out", required=True, help="Output folder (created if needed)")

    def handle(self, *args: Any, since: str, owner: str | None, out: str, **opts: Any) -> None:
        start = timezone.make_aware(dt.datetime.combine(parse_date(since), dt.time.min))
        studies = Study.objects.filter(created_at__gte=start).exclude(status__in=INCOMPLETE)
        if owner:
            user = User.objects.filter(email__iexact=owner).first()
            if user is None:
                raise CommandError(f"no account with email {owner}")
            studies = studies.filter(owner=user)
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for study in studies.order_by("id"):
            line = self.export_one(study, folder)
            if line["file"]:
                rows.append(exports.metadata_row(study))
            self.stdout.write(json.dumps(line))
        (folder / "metadata.csv").write_text(exports.csv_text(rows), encoding="utf-8")

    def export_one(self, study: Study, folder: Path) -> dict[str, Any]:
        """Write one study's ZIP (atomically: a partial file never has the final name)."""
        name = f"study-{study.pk}-dicom.zip"
        partial = folder / f".{name}.part"
        try:
            with partial.open("wb") as handle:
                notes = exports.write_dicom_zip(study, handle)
        except DicomInputError as exc:
            partial.unlink(missing_ok=True)
            return {"study": study.pk, "file": None, "error": str(exc)}
        os.replace(partial, folder / name)
        return {"study": study.pk, "file": name, "notes": notes}
