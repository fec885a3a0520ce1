"""``manage.py import_from_pacs --pacs AE@HOST:PORT --since DATE [--until DATE]
[--modality CT] [--patients list.csv] --owner EMAIL [--jobs N]``: import a cohort from a
PACS (C-FIND by study date and modality, C-GET), de-identified on the way in.

One JSON line per study on stdout, as ``import_dicom`` prints (a study imported before
says ``"skipped"``; one that failed has ``"error"``), then a summary line
``{"pacs": {...}}``; progress on stderr. ``--pacs`` may also name a configured peer
(admin: PACS peers). Exit code 0 when every selected study is in the portal, 1 when the
import could not run (wrong input, the PACS refused or cannot be reached), 3 when some
studies failed (run it again: imported studies are skipped).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pacs import dimse, service
from pacs.models import PacsImport, PacsPeer
from portal.accounts.models import User
from uploads.sharing.cohort import Cohort, CohortError, read_cohort

#: Exit code when some studies were not imported (the run itself went through).
SOME_FAILED = 3


def parse_date(option: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option} must be a date like 2025-01-31, not {text!r}") from None


def read_patients(path: str) -> Cohort:
    try:
        return read_cohort(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read the patient list ({type(exc).__name__})") from exc
    except CohortError as exc:
        raise CommandError(f"patient list: {exc}") from exc


class Command(BaseCommand):
    help = "Import the studies of a date range (and a patient list) from a PACS, de-identified."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pacs", required=True, help="AE_TITLE@HOST:PORT, or a peer's name")
        parser.add_argument("--since", required=True, help="Study date on or after (YYYY-MM-DD)")
        parser.add_argument("--until", help="Study date on or before (YYYY-MM-DD)")
        parser.add_argument("--modality", default="", help="Only studies with it, e.g. CT")
        parser.add_argument("--patients", help="CSV with a patient_id column (and any others)")
        parser.add_argument("--owner", required=True, help="Email of the owning account")
        parser.add_argument("--jobs", type=int, help="Studies retrieved at once (PACS_JOBS)")

    def handle(self, *args: Any, **opts: Any) -> None:
        owner = User.objects.filter(email__iexact=opts["owner"], is_active=True).first()
        if owner is None:
            raise CommandError(f"no active account with email {opts['owner']}")
        jobs = opts["jobs"]
        if jobs is not None and not 1 <= jobs <= 32:
            raise CommandError("--jobs must be between 1 and 32")
        since = parse_date("--since", opts["since"])
        until = parse_date("--until", opts["until"]) if opts["until"] else None
        cohort = read_patients(opts["patients"]) if opts["patients"] else None
        pacs: str | PacsPeer = PacsPeer.objects.filter(name=opts["pacs"]).first() or opts["pacs"]
        try:
            job = service.create_import(
                pacs=pacs, owner=owner, since=since, until=until,
                modality=opts["modality"], cohort=cohort,
            )  # fmt: skip
        except service.PacsInputError as exc:
            raise CommandError(str(exc)) from exc
        service.claim(job.pk)

        def emit(line: dict[str, Any]) -> None:
            self.stdout.write(json.dumps(line))
            self.stdout.flush()

        def say(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

        try:
            outcome = service.run_import(job, jobs=jobs, say=say, emit=emit)
        except dimse.DimseError as exc:
            service.finish(job.pk, PacsImport.State.FAILED, str(exc))
            raise CommandError(str(exc)) from exc
        state = PacsImport.State.DONE
        service.finish(job.pk, state, service.summary(outcome))
        summary = {
            "import": job.pk, "matched": outcome.matched, "selected": outcome.selected,
            "imported": outcome.imported, "skipped": outcome.skipped, "failed": outcome.failed,
        }  # fmt: skip
        if cohort is not None:
            summary["patients"] = len(cohort.rows)
        emit({"pacs": summary})
        if outcome.failed:
            say(f"{outcome.failed} studies were not imported: run the command again to retry them")
            sys.exit(SOME_FAILED)
