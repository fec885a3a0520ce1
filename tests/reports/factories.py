"""Test data for the reporting workflow: studies with instances, signed reports.

The studies are created directly in the database (Study + Series + Instance rows);
an instance's file is pydicom's CT_small.dcm stored through the storage API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from uploads.models import Instance, Series, Study, StudyStatus

# Words that must never reach an email or a PDF: the DICOM's own identity and the
# request text (only the portal study number may appear).
CT_SMALL_IDENTITY = ["CompressedSamples", "1CT1"]
FINDINGS = "Small nodule in the right upper lobe measuring 4 mm."
IMPRESSION = "Benign-appearing pulmonary nodule, no follow-up needed."


def make_study(
    owner: Any,
    *,
    status: str = StudyStatus.READY,
    assigned_to: Any = None,
    modalities: str = "CT",
    body_part: str = "CHEST",
    description: str = "CT THORAX",
    urgency: str = "routine",
    waiting: timedelta = timedelta(hours=1),
    instances: int = 0,
    **extra: Any,
) -> Study:
    """A study in ``status``, requested ``waiting`` ago, with ``instances`` CT images."""
    now = timezone.now()
    study = Study.objects.create(
        owner=owner,
        status=status,
        assigned_to=assigned_to,
        assigned_at=now if assigned_to else None,
        modalities=modalities,
        body_part=body_part,
        description=description,
        urgency=urgency,
        requested_at=now - waiting,
        clinical_question=extra.pop("clinical_question", "Cough for three weeks, nodule?"),
        patient_pseudonym=extra.pop("patient_pseudonym", "PSEUDO-7f3a"),
        study_date=extra.pop("study_date", (now - timedelta(days=400)).date()),
        **extra,
    )
    for _ in range(instances):
        add_instance(study)
    return study


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
    """Write and sign the original report of an assigned study; returns the version."""
    from reports import services

    if study.assigned_to_id != radiologist.pk:
        Study.objects.filter(pk=study.pk).update(
            assigned_to=radiologist, status=StudyStatus.IN_REVIEW
        )
        study.refresh_from_db()
    data = {"findings": FINDINGS, "impression": IMPRESSION, **sections}
    return services.sign(study, radiologist, data)


def route_kwargs(kind: str, users: dict[str, Any]) -> dict[str, Any]:
    """URL kwargs for the permission matrix's reporting kinds (tests/test_permissions.py)."""
    from reports.models import Delivery, DeliveryStatus, Notification

    if kind == "own_study":
        return {"pk": make_study(users["patient"]).pk}
    if kind == "assigned":
        study = make_study(users["target"], assigned_to=users["radiologist"])
        return {"pk": study.pk}
    if kind == "reported":
        study = make_study(users["patient"], assigned_to=users["radiologist"], instances=1)
        sign_report(study, users["radiologist"])
        return {"pk": study.pk}
    if kind == "reported_key_image":
        study = make_study(users["patient"], assigned_to=users["radiologist"], instances=1)
        instance = Instance.objects.get(series__study=study)
        sign_report(study, users["radiologist"], key_images=[{"instance_id": instance.pk}])
        return {"pk": study.pk, "index": 1}
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
