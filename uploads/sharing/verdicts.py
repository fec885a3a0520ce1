"""What a share link's reviewer may answer, and the answer itself.

The sharer chooses a kind when making the link (:class:`uploads.models.VerdictKind`):

* **second opinion** — a written opinion (required), no choices;
* **trial eligibility** — Eligible / Not eligible / Needs more images, and a comment;
* **own choices** — 2 to :data:`MAX_CHOICES` short labels the sharer types, and a comment;
* **none** — view only, nothing to answer.

The link stores the kind and its labels; the answer is checked against the link's own
labels and stored as the chosen label's text. Every refusal is a plain sentence
(:class:`AnswerError`), shown to the reviewer with a 400.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from portal.audit.log import record
from uploads.models import ShareLink, Verdict, VerdictKind
from uploads.sharing import notify, tasks

MIN_CHOICES = 2
MAX_CHOICES = 6
#: Longest label of an own choice, characters.
CHOICE_MAX_LENGTH = 60
#: Longest opinion or comment, characters.
TEXT_MAX_LENGTH = 4000


class AnswerError(ValueError):
    """An answer the link does not take; the message is meant for the reviewer."""


def parse_choices(text: str) -> list[str]:
    """The sharer's own choices, one per line (blank lines ignored).

    Raises
    ------
    ValueError
        With a message for the sharer: fewer than 2 or more than 6 choices, one longer than
        60 characters, or the same choice twice.
    """
    choices = [" ".join(line.split()) for line in text.splitlines()]
    choices = [choice for choice in choices if choice]
    if len(choices) < MIN_CHOICES:
        raise ValueError(
            f"Type at least {MIN_CHOICES} choices, one per line (you typed {len(choices)})."
        )
    if len(choices) > MAX_CHOICES:
        raise ValueError(f"Type at most {MAX_CHOICES} choices (you typed {len(choices)}).")
    for number, choice in enumerate(choices, 1):
        if len(choice) > CHOICE_MAX_LENGTH:
            raise ValueError(
                f"Choice {number} has {len(choice)} characters: "
                f"keep each choice to {CHOICE_MAX_LENGTH} or fewer."
            )
    seen: set[str] = set()
    for choice in choices:
        if choice.casefold() in seen:
            raise ValueError(f"“{choice}” is listed twice: make each choice different.")
        seen.add(choice.casefold())
    return choices


@dataclass(frozen=True)
class Answer:
    """A checked answer: the chosen label ("" for an opinion) and the text."""

    choice: str
    text: str

    def number(self, link: ShareLink) -> int | None:
        """1-based position of the choice in the link's set (for the audit log)."""
        return link.verdict_choices.index(self.choice) + 1 if self.choice else None


def check_answer(link: ShareLink, data: dict[str, str]) -> Answer:
    """The answer in the posted ``data``, checked against the link's own set.

    ``data`` holds ``verdict`` (a label of the set) and ``comment`` for choice kinds,
    ``opinion`` for a second opinion.
    """
    if link.verdict_kind == VerdictKind.NONE:
        raise AnswerError("This link is for viewing only: it does not ask for an answer.")
    if link.verdict_kind == VerdictKind.OPINION:
        opinion = str(data.get("opinion") or "").strip()
        if not opinion:
            raise AnswerError("Write your opinion before sending.")
        if len(opinion) > TEXT_MAX_LENGTH:
            raise AnswerError(f"Your opinion is too long: at most {TEXT_MAX_LENGTH} characters.")
        return Answer("", opinion)
    picked = " ".join(str(data.get("verdict") or "").split())
    if link.verdict_kind == VerdictKind.TRIAL and picked in Verdict.values:
        picked = str(Verdict(picked).label)  # a form from before migration 0008
    if not picked:
        raise AnswerError("Choose one of the answers before sending.")
    if picked not in link.verdict_choices:
        raise AnswerError("That answer is not one this link offers. Choose one of the list.")
    comment = str(data.get("comment") or "").strip()
    if len(comment) > TEXT_MAX_LENGTH:
        raise AnswerError(f"Your comment is too long: at most {TEXT_MAX_LENGTH} characters.")
    return Answer(picked, comment)


def save_answer(request: HttpRequest, link: ShareLink, answer: Answer) -> None:
    """Store the answer, audit it (kind and choice number, never text) and tell the sharer
    (in the portal at once, by email after commit)."""
    with transaction.atomic():
        ShareLink.objects.filter(pk=link.pk).update(
            verdict=answer.choice, verdict_comment=answer.text, verdict_at=timezone.now()
        )
        detail: dict[str, object] = {"study": link.study_id, "kind": link.verdict_kind}
        if answer.choice:
            detail["choice"] = answer.number(link)
        record(request, "share.verdict", link, **detail)
        if notify.answer_given(link):
            tasks.schedule_answer_email(link.pk)
