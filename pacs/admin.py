"""Django admin: PACS peers can be changed here too; imports are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from pacs.models import PacsImport, PacsPeer


@admin.register(PacsPeer)
class PacsPeerAdmin(admin.ModelAdmin):
    list_display = ("name", "ae_title", "host", "port", "echo_ok", "echo_at")
    readonly_fields = ("echo_at", "echo_ok", "echo_message")


@admin.register(PacsImport)
class PacsImportAdmin(admin.ModelAdmin):
    list_display = ("pk", "peer_label", "owner", "state", "imported", "skipped", "failed")
    list_filter = ("state",)

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
