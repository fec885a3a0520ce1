from django.contrib import admin

from portal.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "object_type", "object_id", "ip")
    list_filter = ("action", "object_type")
    search_fields = ("actor", "object_id", "action")
    date_hierarchy = "at"

    # Append-only: nobody edits or deletes history through the admin.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
