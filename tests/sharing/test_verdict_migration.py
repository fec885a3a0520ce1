"""Migration ``uploads.0009_share_verdict_kinds`` with data: links made before it keep
working as trial-eligibility links with their answers, and it goes back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("uploads", "0008_patient_characteristics")]
AFTER = [("uploads", "0009_share_verdict_kinds")]


@pytest.mark.usefixtures("back_to_latest")
def test_existing_links_become_trial_links_with_their_answers() -> None:
    apps = migrate(BEFORE)
    user = apps.get_model("accounts", "User").objects.create(
        email="old@example.org", password="!", role="patient"
    )
    study = apps.get_model("uploads", "Study").objects.create(owner=user)
    ShareLink = apps.get_model("uploads", "ShareLink")
    answered_at = timezone.now() - timedelta(days=2)
    common = {
        "study_id": study.pk,
        "created_by_id": user.pk,
        "expires_at": timezone.now() + timedelta(days=9),
    }
    answered = ShareLink.objects.create(
        token_hash="a" * 64, verdict="needs_more", verdict_comment="Add sagittal T2.",
        verdict_at=answered_at, **common,
    )  # fmt: skip
    unanswered = ShareLink.objects.create(token_hash="b" * 64, **common)

    apps = migrate(AFTER)
    ShareLink = apps.get_model("uploads", "ShareLink")
    old = ShareLink.objects.get(pk=answered.pk)
    assert old.verdict_kind == "trial"
    assert old.verdict_choices == ["Eligible", "Not eligible", "Needs more images"]
    assert old.verdict == "Needs more images" and old.verdict_comment == "Add sagittal T2."
    assert old.verdict_at == answered_at
    assert old.verdict_notified_at == answered_at  # nobody is emailed about old answers
    new = ShareLink.objects.get(pk=unanswered.pk)
    assert new.verdict_kind == "trial" and new.verdict == "" and new.verdict_at is None
    assert len(new.verdict_choices) == 3 and new.verdict_notified_at is None
    # The model of today reads them; the old link's answer is one of its own choices.
    from uploads.models import ShareLink as Model

    assert (
        Model.objects.get(pk=answered.pk).verdict
        in Model.objects.get(pk=answered.pk).verdict_choices
    )

    # Back: trial labels become keys again; answers the old field cannot hold are cleared.
    ShareLink.objects.create(
        token_hash="c" * 64, verdict_kind="custom", verdict_choices=["Operate", "Wait"],
        verdict="Operate", verdict_at=answered_at, **common,
    )  # fmt: skip
    apps = migrate(BEFORE)
    ShareLink = apps.get_model("uploads", "ShareLink")
    assert ShareLink.objects.get(pk=answered.pk).verdict == "needs_more"
    assert ShareLink.objects.get(token_hash="c" * 64).verdict == ""
