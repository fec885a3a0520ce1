from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from portal.accounts.models import ExternalIdentity, User


class PortalUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "role")


class PortalUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class ExternalIdentityInline(admin.TabularInline):
    """OpenID Connect links (portal/accounts/oidc.py): read-only; deleting one makes the
    next sign-in with that provider account match by verified email again."""

    model = ExternalIdentity
    extra = 0
    fields = readonly_fields = ("issuer", "subject", "linked_at", "last_login")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [ExternalIdentityInline]
    form = PortalUserChangeForm
    add_form = PortalUserCreationForm
    ordering = ("email",)
    list_display = ("email", "name", "role", "is_active", "email_verified", "last_login")
    list_filter = ("role", "is_active", "email_verified")
    search_fields = ("email", "name")
    actions = ["deactivate", "activate"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "role", "email_verified")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "role", "password1", "password2")}),
    )

    @admin.action(description="Deactivate selected accounts")
    def deactivate(self, request, queryset):
        queryset.exclude(pk=request.user.pk).update(is_active=False)

    @admin.action(description="Activate selected accounts")
    def activate(self, request, queryset):
        queryset.update(is_active=True)
