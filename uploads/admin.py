from django.contrib import admin

from uploads.models import Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "status",
        "modalities",
        "study_date",
        "assigned_to",
        "created_at",
    )
    list_filter = ("status", "urgency", "modalities")
    search_fields = ("owner__email", "study_instance_uid", "patient_pseudonym")
    raw_id_fields = ("owner",)
