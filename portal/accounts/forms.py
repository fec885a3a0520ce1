from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import SetPasswordForm
from django.utils.translation import gettext_lazy as _

from portal.accounts.models import Role, User


def _testid(field: forms.Field, testid: str) -> None:
    field.widget.attrs["data-testid"] = testid


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autofocus": True}))
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _testid(self.fields["email"], "login-email")
        _testid(self.fields["password"], "login-password")


class EmailForm(forms.Form):
    email = forms.EmailField(label=_("Your email address"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _testid(self.fields["email"], "resend-email")


class SignupForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    password = forms.CharField(widget=forms.PasswordInput, label=_("Password"))
    password2 = forms.CharField(widget=forms.PasswordInput, label=_("Password again"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, testid in [
            ("email", "signup-email"),
            ("password", "signup-password"),
            ("password2", "signup-password2"),
        ]:
            _testid(self.fields[name], testid)

    def clean_email(self) -> str:
        """The address, lower-cased. Whether it has an account is not checked here: the
        answer must not tell (``portal.accounts.views.signup``)."""
        return str(self.cleaned_data["email"]).lower()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        elif data.get("password"):
            try:
                password_validation.validate_password(
                    data["password"], User(email=data.get("email", ""))
                )
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    name = forms.CharField(
        label=_("Name"), max_length=150, required=False, help_text=_("As shown on reports")
    )
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[(Role.RADIOLOGIST, _("Radiologist")), (Role.ADMIN, _("Administrator"))],
        initial=Role.RADIOLOGIST,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _testid(self.fields["email"], "invite-email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this email already exists."))
        return email


class UserRoleForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["role", "is_active"]


class VerifyingSetPasswordForm(SetPasswordForm):
    """Setting a password from an emailed link proves the address: mark it verified."""

    def save(self, commit: bool = True) -> Any:
        self.user.email_verified = True
        return super().save(commit=commit)
