"""The reporting states of a study: stored values, labels, and how a study moves.

A study's status (``uploads.models.StudyStatus``) is the intake's states while its images
arrive and are prepared (uploading, processing, needs attention), then these. This module
is pure data, with no Django import, so that ``uploads.models`` can build ``StudyStatus``
from it without importing the reporting models (``reports.models`` imports
``uploads.models``). ``StudyStatus.READY`` and the others *are* these values: compare with
either.

How a study moves::

    READY ──claim / first draft──▶ IN_REVIEW ──sign──▶ REPORTED ──sign addendum──▶ AMENDED
      │   ▲                            │                                  (more addenda)
      │   └──── admin unassigns ───────┘
      └──uploader cancels──▶ CANCELLED

The intake hands a study over in READY once its upload is done, and puts a study whose
upload was cancelled before then in CANCELLED. Every move above is made by
``reports.services`` (see there for where the line runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

READY: Final = "ready"
IN_REVIEW: Final = "in_review"
REPORTED: Final = "reported"
AMENDED: Final = "amended"
CANCELLED: Final = "cancelled"


def gettext_noop(message: str) -> str:
    """Marks a label for the translation catalogue (``makemessages`` looks for this name);
    ``uploads.models.StudyStatus`` translates it when shown. No Django import here."""
    return message


#: What users read, in the order of the workflow.
LABELS: Final[dict[str, str]] = {
    READY: gettext_noop("Waiting for a radiologist"),
    IN_REVIEW: gettext_noop("In review"),
    REPORTED: gettext_noop("Report ready"),
    AMENDED: gettext_noop("Report amended"),
    CANCELLED: gettext_noop("Cancelled"),
}

#: On a worklist, a report can be written: waiting or in review.
OPEN: Final = (READY, IN_REVIEW)
#: A version of the report is signed.
SIGNED: Final = (REPORTED, AMENDED)


def choice(state: str, translate: Callable[[str], Any] = str) -> tuple[str, Any]:
    """``(value, label)`` of a reporting state, as a member of a Django choices class;
    ``translate`` (Django's ``gettext_lazy``) makes the label follow the reader's language."""
    return state, translate(LABELS[state])
