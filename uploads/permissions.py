"""Who may see which study. Every view that reads a study goes through here."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from portal.accounts.models import Role
from uploads.models import Study, StudyStatus


def visible_studies(user: Any) -> QuerySet[Study]:
    """Patients: their own. Radiologists: the pool (ready, unassigned) and theirs. Admins: all."""
    if not user.is_authenticated or not user.is_active:
        return Study.objects.none()
    if user.role == Role.ADMIN:
        return Study.objects.all()
    if user.role == Role.RADIOLOGIST:
        pool = Q(status=StudyStatus.READY, assigned_to__isnull=True)
        return Study.objects.filter(pool | Q(assigned_to=user))
    return Study.objects.filter(owner=user)


def can_view_study(user: Any, study: Study) -> bool:
    return visible_studies(user).filter(pk=study.pk).exists()
