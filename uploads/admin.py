"""Django admin for studies: a read-only view. A study's state changes only through the
portal's own pages (``reports.services``, the admin's Uploads page), which check and
audit every change; deleting a study is left here (its files go with it, see signals)."""

from typing import Any

from django.contrib import admin

from uploads.models import ReviewRequest, Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "status",
        "modalities",
        "study_date",
        "created_at",
    )
    list_filter = ("status", "modalities")
    search_fields = ("owner__email", "study_instance_uid", "patient_pseudonym")
    raw_id_fields = ("owner",)

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ReviewRequest)
class ReviewRequestAdmin(admin.ModelAdmin):
    """Read-only too: requests are made by uploads (``uploads.intake.cases``)."""

    list_display = ("id", "owner", "status", "urgency", "assigned_to", "requested_at", "created_at")
    list_filter = ("status", "urgency")
    search_fields = ("owner__email",)
    raw_id_fields = ("owner", "studies", "assigned_to")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
