"""The reporting states of a review request: stored values, labels, and how it moves.

A review request (``uploads.models.ReviewRequest``) is PENDING while the upload that made
it is still bringing its images, then in these states. This module is pure data, with no
Django import, so that ``uploads.models`` can build ``RequestStatus`` from it without
importing the reporting models (``reports.models`` imports ``uploads.models``).
``RequestStatus.READY`` and the others *are* these values: compare with either.

How a request moves::

    PENDING ──upload done──▶ READY ──claim / first draft──▶ IN_REVIEW ──sign──▶ REPORTED
                               │   ▲                            │                   │
                               │   └──── admin unassigns ───────┘      sign addendum ▼
                               └──uploader cancels──▶ CANCELLED                  AMENDED

The intake makes a request PENDING and hands it over in READY once its upload is done
(``uploads.intake.cases``). Every later move is made by ``reports.services`` (see there
for where the line runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

PENDING: Final = "pending"
READY: Final = "ready"
IN_REVIEW: Final = "in_review"
REPORTED: Final = "reported"
AMENDED: Final = "amended"
CANCELLED: Final = "cancelled"


def gettext_noop(message: str) -> str:
    """Marks a label for the translation catalogue (``makemessages`` looks for this name);
    ``uploads.models.RequestStatus`` translates it when shown. No Django import here."""
    return message


#: What users read, in the order of the workflow.
LABELS: Final[dict[str, str]] = {
    PENDING: gettext_noop("Images arriving"),
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
