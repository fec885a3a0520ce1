"""Who may see a review request and the studies around it: the uploader her own; a
radiologist those covering a study in the pool or assigned to them, and for an assigned
study the request's other studies and the same patient's priors (same owner and pseudonym),
nothing of another patient or another uploader."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reports.factories import case_of, make_study
from uploads.models import ReviewRequest, Study

pytestmark = pytest.mark.django_db


def request_for(owner: Any, *studies: Study, question: str = "Nodule?") -> ReviewRequest:
    case = ReviewRequest.objects.create(owner=owner, clinical_question=question)
    case.studies.add(*studies)
    return case


def status(client: Any, url: str) -> int:
    return int(client.get(url).status_code)


def test_the_uploader_sees_her_requests_and_nobody_elses(
    login: Any, patient: Any, other_patient: Any
) -> None:
    mine = request_for(patient, make_study(patient), question="My own question")
    theirs = request_for(other_patient, make_study(other_patient))
    client = login(patient)
    page = client.get(f"/requests/{mine.pk}/")
    assert page.status_code == 200 and "My own question" in page.content.decode()
    assert status(client, f"/requests/{theirs.pk}/") == 404
    assert status(client, "/requests/999999/") == 404


def test_a_radiologist_sees_pool_and_assigned_requests_only(
    login: Any, patient: Any, radiologist: Any, other_radiologist: Any
) -> None:
    pool = request_for(patient, make_study(patient))
    mine = request_for(patient, make_study(patient, status="in_review", assigned_to=radiologist))
    other = request_for(
        patient, make_study(patient, status="in_review", assigned_to=other_radiologist)
    )
    client = login(radiologist)
    assert status(client, f"/requests/{pool.pk}/") == 200
    assert status(client, f"/requests/{mine.pk}/") == 200
    assert status(client, f"/requests/{other.pk}/") == 404


def test_priors_and_companion_studies_open_for_the_assigned_radiologist_only(
    login: Any, patient: Any, other_patient: Any, radiologist: Any, other_radiologist: Any
) -> None:
    today = make_study(patient, status="in_review", assigned_to=radiologist,
                       patient_pseudonym="P-1", instances=1)  # fmt: skip
    companion = make_study(patient, status="reported", patient_pseudonym="P-9", instances=1)
    prior = make_study(patient, status="reported", patient_pseudonym="P-1", instances=1)
    other_patient_same_owner = make_study(patient, status="reported", patient_pseudonym="P-2")
    same_pseudonym_other_owner = make_study(
        other_patient, status="reported", patient_pseudonym="P-1"
    )
    case = request_for(patient, today, companion)
    client = login(radiologist)
    for study in (today, companion, prior):
        assert status(client, f"/studies/{study.pk}/") == 200, study
        assert status(client, f"/studies/{study.pk}/viewer/") == 200, study
    for study in (other_patient_same_owner, same_pseudonym_other_owner):
        assert status(client, f"/studies/{study.pk}/") == 404, study
    page = client.get(f"/requests/{case.pk}/").content.decode()
    assert f'data-testid="prior-row" data-study-id="{prior.pk}"' in page
    assert page.count('data-testid="request-study-row"') == 2
    assert page.count('data-testid="prior-row"') == 1
    # Another radiologist (nothing assigned) sees none of them.
    stranger = login(other_radiologist)
    for study in (today, companion, prior):
        assert status(stranger, f"/studies/{study.pk}/") == 404, study


def test_a_question_asked_after_the_report_waits_for_its_radiologist_until_an_addendum(
    login: Any, patient: Any, radiologist: Any, other_radiologist: Any
) -> None:
    from django.utils import timezone

    from reports import services
    from tests.reports.factories import sign_report

    study = make_study(patient, status="in_review", assigned_to=radiologist, instances=1)
    first = request_for(patient, study, question="First question")
    ReviewRequest.objects.filter(pk=first.pk).update(requested_at=case_of(study).requested_at)
    sign_report(study, radiologist)
    client = login(radiologist)
    assert 'data-testid="worklist-follow-up"' not in client.get("/worklist/").content.decode()

    second = request_for(patient, study, question="Second opinion: is it really benign?")
    ReviewRequest.objects.filter(pk=second.pk).update(requested_at=timezone.now())
    page = client.get("/worklist/").content.decode()
    assert page.count('data-testid="worklist-follow-up"') == 1
    assert f'data-request-id="{second.pk}"' in page and "really benign" in page
    assert f'href="/requests/{case_of(study).pk}/report/" data-testid="follow-up-report"' in page
    other = login(other_radiologist).get("/worklist/").content.decode()
    assert 'data-testid="worklist-follow-up"' not in other

    # The addendum answers it.
    study.refresh_from_db()
    services.start_addendum(case_of(study), radiologist, "Second opinion asked")
    services.sign(case_of(study), radiologist, {"impression": "Still benign."})
    page = login(radiologist).get("/worklist/").content.decode()
    assert 'data-testid="worklist-follow-up"' not in page


def test_a_pool_study_is_claimed_from_its_request_page(
    login: Any, patient: Any, radiologist: Any, admin_user: Any
) -> None:
    study = make_study(patient, instances=1)
    case = request_for(patient, study)
    assert (
        'data-testid="claim-button"'
        not in login(admin_user).get(f"/requests/{case.pk}/").content.decode()
    )
    client = login(radiologist)
    page = client.get(f"/requests/{case.pk}/").content.decode()
    assert (
        f'action="/requests/{case_of(study).pk}/claim/"' in page
        and 'data-testid="claim-button"' in page
    )
    assert client.post(f"/requests/{case_of(study).pk}/claim/").status_code == 302
    page = client.get(f"/requests/{case.pk}/").content.decode()
    assert 'data-testid="claim-button"' not in page
    assert 'data-testid="request-open-report"' in page
