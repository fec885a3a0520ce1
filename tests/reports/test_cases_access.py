"""Who may see a review request and the studies around it: the uploader her own; a
radiologist those in the pool or assigned to them, and for an assigned request its
studies and the same patient's priors (same owner and pseudonym), nothing of another
patient or another uploader. And each request is reported on its own."""

from __future__ import annotations

from typing import Any

import pytest

from reports import services
from reports.models import Delivery, Report, VersionStatus
from tests.reports.factories import case_of, make_request, make_study, sign_report
from uploads.models import RequestStatus

pytestmark = pytest.mark.django_db


def status(client: Any, url: str) -> int:
    return int(client.get(url).status_code)


def test_the_uploader_sees_her_requests_and_nobody_elses(
    login: Any, patient: Any, other_patient: Any
) -> None:
    mine = make_request(patient, [make_study(patient, case=False)], clinical_question="My own")
    theirs = make_request(other_patient, [make_study(other_patient, case=False)])
    client = login(patient)
    page = client.get(f"/requests/{mine.pk}/")
    assert page.status_code == 200 and "My own" in page.content.decode()
    assert status(client, f"/requests/{theirs.pk}/") == 404
    assert status(client, "/requests/999999/") == 404


def test_a_radiologist_sees_pool_and_assigned_requests_only(
    login: Any, patient: Any, radiologist: Any, other_radiologist: Any
) -> None:
    pool = make_request(patient, [make_study(patient, case=False)])
    mine = make_request(patient, [make_study(patient, case=False)],
                        status=RequestStatus.IN_REVIEW, assigned_to=radiologist)  # fmt: skip
    other = make_request(patient, [make_study(patient, case=False)],
                         status=RequestStatus.IN_REVIEW, assigned_to=other_radiologist)  # fmt: skip
    pending = make_request(patient, [make_study(patient, case=False, status="processing")],
                           status=RequestStatus.PENDING)  # fmt: skip
    client = login(radiologist)
    assert status(client, f"/requests/{pool.pk}/") == 200
    assert status(client, f"/requests/{mine.pk}/") == 200
    assert status(client, f"/requests/{other.pk}/") == 404
    assert status(client, f"/requests/{pending.pk}/") == 404  # its images are still arriving


def test_priors_and_companion_studies_open_for_the_assigned_radiologist_only(
    login: Any, patient: Any, other_patient: Any, radiologist: Any, other_radiologist: Any
) -> None:
    def study(owner: Any, pseudonym: str, instances: int = 0) -> Any:
        return make_study(owner, patient_pseudonym=pseudonym, instances=instances, case=False)

    today, companion = study(patient, "P-1", 1), study(patient, "P-9", 1)
    prior = study(patient, "P-1", 1)
    other_patient_same_owner = study(patient, "P-2")
    same_pseudonym_other_owner = study(other_patient, "P-1")
    case = make_request(patient, [today, companion], status=RequestStatus.IN_REVIEW,
                        assigned_to=radiologist)  # fmt: skip
    client = login(radiologist)
    for shown in (today, companion, prior):
        assert status(client, f"/studies/{shown.pk}/") == 200, shown
        assert status(client, f"/studies/{shown.pk}/viewer/") == 200, shown
    for hidden in (other_patient_same_owner, same_pseudonym_other_owner):
        assert status(client, f"/studies/{hidden.pk}/") == 404, hidden
    page = client.get(f"/requests/{case.pk}/").content.decode()
    assert f'data-testid="prior-row" data-study-id="{prior.pk}"' in page
    assert page.count('data-testid="request-study-row"') == 2
    assert page.count('data-testid="prior-row"') == 1
    # The reading page offers each of the request's studies.
    reading = client.get(f"/requests/{case.pk}/read/?study={companion.pk}").content.decode()
    assert f"/studies/{companion.pk}/viewer/?embed=1&amp;request={case.pk}" in reading
    assert f'data-study-id="{today.pk}"' in reading
    # Another radiologist (nothing assigned) sees none of them.
    stranger = login(other_radiologist)
    for hidden in (today, companion, prior):
        assert status(stranger, f"/studies/{hidden.pk}/") == 404, hidden


def test_a_second_question_about_a_reported_study_is_reported_on_its_own(
    login: Any, patient: Any, radiologist: Any, other_radiologist: Any
) -> None:
    """A second opinion about a reported study is a request of its own: it waits in the
    pool, another radiologist can take it, and its report is signed and sent without
    touching the first one."""
    study = make_study(patient, status="in_review", assigned_to=radiologist, instances=1)
    first = case_of(study)
    first_version = sign_report(study, radiologist)
    second = make_request(patient, [study], clinical_question="Second opinion: benign?")

    worklist = login(other_radiologist).get("/worklist/").content.decode()
    assert f'data-testid="worklist-row" data-request-id="{second.pk}"' in worklist
    assert f'data-request-id="{first.pk}"' not in worklist
    assert "Second opinion: benign?" in worklist
    response = login(other_radiologist).post(f"/requests/{second.pk}/claim/")
    assert response.status_code == 302
    services.sign(second, other_radiologist, {"impression": "Agree: benign."})

    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, second.status) == (RequestStatus.REPORTED, RequestStatus.REPORTED)
    assert Report.objects.filter(study=study).count() == 2
    assert services.signed_version(first).pk == first_version.pk
    assert services.signed_version(second).impression == "Agree: benign."
    assert (
        Report.objects.get(review_request=first).versions.filter(status=VersionStatus.SIGNED)
    ).count() == 1
    # The uploader reads both and gets an email for each; the study page lists both requests.
    client = login(patient)
    for case in (first, second):
        assert status(client, f"/requests/{case.pk}/report/view/") == 200
    sent = Delivery.objects.filter(recipient=patient).values_list("version__report", flat=True)
    assert sorted(sent) == sorted(Report.objects.filter(study=study).values_list("pk", flat=True))
    page = client.get(f"/studies/{study.pk}/").content.decode()
    assert page.count('data-testid="study-reporting"') == 2
    assert page.count('data-testid="study-report-link"') == 2


def test_a_pool_request_is_claimed_from_its_page(
    login: Any, patient: Any, radiologist: Any, admin_user: Any
) -> None:
    case = case_of(make_study(patient, instances=1))
    admin_page = login(admin_user).get(f"/requests/{case.pk}/").content.decode()
    assert 'data-testid="claim-button"' not in admin_page
    assert 'data-testid="request-assign-form"' in admin_page
    client = login(radiologist)
    page = client.get(f"/requests/{case.pk}/").content.decode()
    assert f'action="/requests/{case.pk}/claim/"' in page and 'data-testid="claim-button"' in page
    assert client.post(f"/requests/{case.pk}/claim/").status_code == 302
    page = client.get(f"/requests/{case.pk}/").content.decode()
    assert 'data-testid="claim-button"' not in page
    assert 'data-testid="request-open-reading"' in page
