"""Test data for the reporting workflow: studies with instances, review requests about
them, signed reports.

The studies are created directly in the database (Study + Series + Instance rows, and a
ReviewRequest covering the study: :func:`case_of`); an
instance's file is pydicom's CT_small.dcm stored through the storage API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from uploads.models import Instance, RequestStatus, ReviewRequest, Series, Study, StudyStatus

# Words that must never reach an email or a PDF: the DICOM's own identity and the
# request text (only the portal study number may appear).
CT_SMALL_IDENTITY = ["CompressedSamples", "1CT1"]
FINDINGS = "Small nodule in the right upper lobe measuring 4 mm."
IMPRESSION = "Benign-appearing pulmonary nodule, no follow-up needed."


#: Where the study's images are, for each state of its request made by :func:`make_study`.
IMAGES_FOR = {
    RequestStatus.PENDING: StudyStatus.PROCESSING,
    RequestStatus.READY: StudyStatus.READY,
    RequestStatus.IN_REVIEW: StudyStatus.READY,
    RequestStatus.REPORTED: StudyStatus.READY,
    RequestStatus.AMENDED: StudyStatus.READY,
    RequestStatus.CANCELLED: StudyStatus.READY,
}


def make_study(
    owner: Any,
    *,
    status: str = RequestStatus.READY,
    assigned_to: Any = None,
    modalities: str = "CT",
    body_part: str = "CHEST",
    description: str = "CT THORAX",
    urgency: str = "routine",
    waiting: timedelta = timedelta(hours=1),
    instances: int = 0,
    case: bool = True,
    **extra: Any,
) -> Study:
    """A study with ``instances`` CT images and a review request about it (:func:`case_of`)
    in ``status`` (a request state; the study's own status follows from it unless an
    intake state is given), requested ``waiting`` ago. ``case=False``: no request."""
    now = timezone.now()
    question = extra.pop("clinical_question", "Cough for three weeks, nodule?")
    history = extra.pop("history", "")
    study_status = IMAGES_FOR.get(status, status)  # type: ignore[call-overload]
    case_status = status if status in IMAGES_FOR else RequestStatus.PENDING
    study = Study.objects.create(
        owner=owner,
        status=study_status,
        modalities=modalities,
        body_part=body_part,
        description=description,
        patient_pseudonym=extra.pop("patient_pseudonym", "PSEUDO-7f3a"),
        study_date=extra.pop("study_date", (now - timedelta(days=400)).date()),
        **extra,
    )
    if not case:
        for _ in range(instances):
            add_instance(study)
        return study
    make_request(
        owner,
        [study],
        status=case_status,
        assigned_to=assigned_to,
        urgency=urgency,
        clinical_question=question,
        history=history,
        requested_at=None if case_status == RequestStatus.PENDING else now - waiting,
    )
    for _ in range(instances):
        add_instance(study)
    return study


def make_request(owner: Any, studies: list[Study], **fields: Any) -> ReviewRequest:
    """A review request of ``owner`` covering ``studies`` (READY unless told)."""
    fields.setdefault("status", RequestStatus.READY)
    if fields.get("assigned_to") is not None:
        fields.setdefault("assigned_at", timezone.now())
    case = ReviewRequest.objects.create(owner=owner, **fields)
    case.studies.set(studies)
    return case


def case_of(study: Study) -> ReviewRequest:
    """The (first) review request about ``study``, fresh from the database."""
    return ReviewRequest.objects.filter(studies=study).order_by("created_at", "pk")[0]


def add_instance(study: Study, *, needs_pixel_review: bool = False) -> Instance:
    """One instance with a real DICOM file (CT_small.dcm) in storage."""
    from pydicom.data import get_testdata_file

    series, _ = Series.objects.get_or_create(
        study=study,
        series_instance_uid=f"2.25.{study.pk}1",
        defaults={"modality": "CT", "number": 1, "description": "AXIAL"},
    )
    number = series.instances.count() + 1
    path = str(get_testdata_file("CT_small.dcm"))
    with open(path, "rb") as handle:
        data = handle.read()
    name = default_storage.save(f"studies/{study.pk}/{number}.dcm", ContentFile(data))
    return Instance.objects.create(
        series=series,
        sop_instance_uid=f"2.25.{study.pk}{number}9",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        instance_number=number,
        rows=128,
        columns=128,
        frames=1,
        file=name,
        size=len(data),
        needs_pixel_review=needs_pixel_review,
    )


def sign_report(study: Study, radiologist: Any, **sections: Any) -> Any:
    """Write and sign the original report of the study's request (assigning it to
    ``radiologist`` first if need be); returns the version."""
    from reports import services

    case = case_of(study)
    if case.assigned_to_id != radiologist.pk:
        ReviewRequest.objects.filter(pk=case.pk).update(
            assigned_to=radiologist, status=RequestStatus.IN_REVIEW
        )
        case.refresh_from_db()
    data = {"findings": FINDINGS, "impression": IMPRESSION, **sections}
    return services.sign(case, radiologist, data)


def route_kwargs(kind: str, users: dict[str, Any]) -> dict[str, Any]:
    """URL kwargs for the permission matrix's reporting kinds (tests/test_permissions.py)."""
    from reports.models import Delivery, DeliveryStatus, Notification

    if kind == "own_study":
        return {"pk": make_study(users["patient"]).pk}
    if kind == "own_request":
        return {"pk": case_of(make_study(users["patient"])).pk}
    if kind == "assigned":
        study = make_study(users["target"], assigned_to=users["radiologist"])
        return {"pk": case_of(study).pk}
    if kind == "reported":
        study = make_study(users["patient"], assigned_to=users["radiologist"], instances=1)
        sign_report(study, users["radiologist"])
        return {"pk": case_of(study).pk}
    if kind == "reported_key_image":
        study = make_study(users["patient"], assigned_to=users["radiologist"], instances=1)
        instance = Instance.objects.get(series__study=study)
        sign_report(study, users["radiologist"], key_images=[{"instance_id": instance.pk}])
        return {"pk": case_of(study).pk, "index": 1}
    if kind == "delivery":
        study = make_study(users["patient"], assigned_to=users["radiologist"])
        version = sign_report(study, users["radiologist"])
        delivery = Delivery.objects.get(version=version)
        Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
        return {"pk": delivery.pk}
    if kind == "notification":
        item = Notification.objects.create(user=users["patient"], text="Hello", link="/studies/")
        return {"pk": item.pk}
    raise AssertionError(kind)
