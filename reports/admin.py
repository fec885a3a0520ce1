"""Django admin: reports are read-only here (signed versions are immutable anyway)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from reports.models import Delivery, Notification, Report, ReportVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class VersionInline(admin.TabularInline):
    model = ReportVersion
    fields = ("number", "kind", "status", "author", "signed_by_name", "signed_at", "pdf")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ("id", "study", "created_at")
    raw_id_fields = ("study",)
    inlines = [VersionInline]


@admin.register(ReportVersion)
class ReportVersionAdmin(ReadOnlyAdmin):
    list_display = ("id", "report", "number", "kind", "status", "signed_by_name", "signed_at")
    list_filter = ("status", "kind")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "version", "recipient", "status", "attempts", "last_error", "sent_at")
    list_filter = ("status",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "text", "read", "created_at")
    list_filter = ("read",)
