"""Review requests (cases) through the upload API: a study uploaded again with a new
question is a second request (nothing typed is dropped), an earlier request can take more
studies (only the uploader's own, still open), and the same files sent twice with no
question are reported as already uploaded."""

from __future__ import annotations

from typing import Any

import pytest

from tests.uploads.conftest import sample_bytes, zip_bytes
from uploads.models import RequestStatus, ReviewRequest, Study, StudyStatus, Upload

pytestmark = pytest.mark.django_db

CT = "CT_small.dcm"
MR = "MR_small.dcm"


def upload(api: Any, files: dict[str, bytes], **asked: Any) -> dict[str, Any]:
    """One upload of ``files`` with what the uploader typed; the final status."""
    number = api.create(len(files), **asked)
    for name, data in files.items():
        api.send(number, name, data)
    state = api.status(number)
    assert state["state"] == "done", state
    return dict(state)


@pytest.mark.usefixtures("storage")
def test_the_same_study_with_a_new_question_is_a_second_request(api: Any, patient: Any) -> None:
    first = upload(api, {"ct.dcm": sample_bytes(CT)}, clinical_question="Is it a nodule?")
    # The hospital's ZIP of the same study, with a new question and "Urgent".
    second = upload(
        api,
        {"hospital.zip": zip_bytes({"DICOM/IM1": sample_bytes(CT)})},
        clinical_question="Has it grown since March?",
        urgency="urgent",
    )
    study = Study.objects.get(owner=patient)
    assert study.status == StudyStatus.READY
    requests = list(ReviewRequest.objects.filter(owner=patient).order_by("pk"))
    assert [r.clinical_question for r in requests] == [
        "Is it a nodule?",
        "Has it grown since March?",
    ]
    assert [r.urgency for r in requests] == ["routine", "urgent"]
    assert all(list(r.studies.all()) == [study] for r in requests)
    assert all(r.requested_at is not None for r in requests)
    assert [first["review_request"], second["review_request"]] == [r.pk for r in requests]
    assert not first["already_uploaded"] and second["already_uploaded"]


@pytest.mark.usefixtures("storage")
def test_a_study_added_to_an_earlier_request_keeps_what_was_typed(api: Any, patient: Any) -> None:
    first = upload(api, {"ct.dcm": sample_bytes(CT)}, clinical_question="Compare both, please.")
    upload(
        api,
        {"mr.dcm": sample_bytes(MR)},
        review_request=first["review_request"],
        clinical_question="The MR is from last year.",
        urgency="urgent",
    )
    case = ReviewRequest.objects.get(owner=patient)
    assert case.studies.count() == 2
    assert case.clinical_question == "Compare both, please.\n\nThe MR is from last year."
    assert case.urgency == "urgent"


@pytest.mark.usefixtures("storage")
def test_the_same_files_twice_without_a_question_are_reported_and_make_no_request(
    api: Any, patient: Any
) -> None:
    data = zip_bytes({"DICOM/IM1": sample_bytes(CT)})
    upload(api, {"scans.zip": data}, clinical_question="Anything wrong?")
    again = upload(api, {"scans-copy.zip": data})
    assert again["already_uploaded"] is True
    assert again["review_request"] is None
    assert ReviewRequest.objects.filter(owner=patient).count() == 1


def test_only_the_uploaders_own_open_request_can_take_studies(
    api: Any, patient: Any, other_patient: Any
) -> None:
    theirs = ReviewRequest.objects.create(owner=other_patient, clinical_question="Theirs")
    reviewed = ReviewRequest.objects.create(
        owner=patient, clinical_question="Mine", status=RequestStatus.IN_REVIEW
    )
    reviewed.studies.add(Study.objects.create(owner=patient, status=StudyStatus.READY))
    for value, words in [
        (theirs.pk, "not found among yours"),
        (reviewed.pk, "already being reviewed"),
        ("12", "by its number"),
        (True, "by its number"),
        (2**70, "not found among yours"),
    ]:
        response = api.client.client.post(
            "/api/uploads/",
            {"expected_files": 1, "review_request": value, "clinical_question": "Lost?"},
            content_type="application/json",
        )
        assert response.status_code == 400, (value, response.content)
        assert words in response.json()["error"]
    assert not Upload.objects.exists()
    assert ReviewRequest.objects.filter(clinical_question__contains="Lost?").count() == 0


def test_editing_a_request_changes_that_request_only(login: Any, patient: Any) -> None:
    study = Study.objects.create(owner=patient, status=StudyStatus.READY)
    first = ReviewRequest.objects.create(owner=patient, clinical_question="Old words")
    later = ReviewRequest.objects.create(owner=patient, clinical_question="A later question")
    first.studies.add(study)
    later.studies.add(study)
    response = login(patient).post(
        f"/requests/{first.pk}/edit/",
        {"clinical_question": "New words", "history": "", "urgency": "urgent"},
    )
    assert response.status_code == 302
    first.refresh_from_db()
    later.refresh_from_db()
    assert (first.clinical_question, first.urgency) == ("New words", "urgent")
    assert (later.clinical_question, later.urgency) == ("A later question", "routine")


def test_a_cancelled_upload_leaves_no_empty_request_but_keeps_an_earlier_one(
    api: Any, patient: Any
) -> None:
    number = api.create(1, clinical_question="Never sent")
    assert api.client.client.post(f"/api/uploads/{number}/cancel/").status_code == 200
    assert not ReviewRequest.objects.filter(owner=patient).exists()
    earlier = ReviewRequest.objects.create(owner=patient, clinical_question="Kept")
    Upload.objects.create(owner=patient, review_request=earlier, state=Upload.State.DONE)
    number = api.create(1, review_request=earlier.pk)
    assert api.client.client.post(f"/api/uploads/{number}/cancel/").status_code == 200
    assert ReviewRequest.objects.filter(pk=earlier.pk).exists()
