"""``manage.py export_studies --since DATE [--owner EMAIL] --out DIR``: batch export.

For every study uploaded on or after DATE (optionally of one owner) that has finished
processing, writes ``study-<id>-dicom.zip`` — the same ZIP as the study page's DICOM
export: the de-identified files unchanged, with a DICOMDIR — and one ``metadata.csv`` of
pseudonymised metadata: pseudonym, age, sex (read from the stored, de-identified files),
modality, study date (as shifted) and description. One JSON line per study on stdout.

``--cohort FILE.csv`` (a ``patient_id`` column with the original Patient IDs, and any
others, e.g. ``icd10``): only the studies of the listed patients, and their columns in
``metadata.csv`` next to the pseudonym (``uploads/sharing/cohort.py``). The original IDs are read
in memory only: they are not written anywhere, printed or logged. A last JSON line gives
how many listed patients were found. Without ``--cohort``, the columns of patient lists
imported with ``import_from_pacs`` are added, matched by pseudonym (``pacs/service.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pacs.service import cohort_columns
from portal.accounts.models import User
from uploads.dicom.errors import DicomInputError
from uploads.models import Study, StudyStatus
from uploads.sharing import exports
from uploads.sharing.cohort import Cohort, CohortError, match, read_cohort

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
        parser.add_argument("--cohort", help="CSV of patient_id (original) and other columns")

    def handle(
        self, *args: Any, since: str, owner: str | None, out: str, cohort: str | None = None,
        **opts: Any,
    ) -> None:  # fmt: skip
        start = timezone.make_aware(dt.datetime.combine(parse_date(since), dt.time.min))
        studies = Study.objects.filter(created_at__gte=start).exclude(status__in=INCOMPLETE)
        if owner:
            user = User.objects.filter(email__iexact=owner).first()
            if user is None:
                raise CommandError(f"no account with email {owner}")
            studies = studies.filter(owner=user)
        selected = list(studies.order_by("id"))
        listed: Cohort | None = None
        matched: dict[int, str] = {}
        if cohort:
            listed = read_cohort_file(cohort)
            matched = match(listed, selected)
            selected = [study for study in selected if study.pk in matched]
        # Without a list: the columns of lists imported from a PACS, kept by pseudonym.
        kept_columns, kept = ([], {}) if listed else cohort_columns(selected)
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for study in selected:
            line = self.export_one(study, folder)
            if line["file"]:
                columns = listed.rows[matched[study.pk]] if listed else kept.get(study.pk, {})
                rows.append({**exports.metadata_row(study), **columns})
            self.stdout.write(json.dumps(line))
        extra = listed.columns if listed else kept_columns
        (folder / "metadata.csv").write_text(exports.csv_text(rows, extra), encoding="utf-8")
        if listed is not None:
            found = len(set(matched.values()))
            summary = {"patients": len(listed.rows), "found": found, "studies": len(selected)}
            self.stdout.write(json.dumps({"cohort": summary}))

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


def read_cohort_file(path: str) -> Cohort:
    try:
        return read_cohort(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read the cohort file ({type(exc).__name__})") from exc
    except CohortError as exc:
        raise CommandError(f"cohort file: {exc}") from exc
