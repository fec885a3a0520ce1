"""The admin page's forms: a PACS peer, and an import (peer, dates, modality, account,
patient list). Every input is checked here, at the edge, with a message per field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pacs import dimse
from pacs.models import PacsPeer
from portal.accounts.models import User
from uploads.sharing.cohort import Cohort, CohortError, read_cohort

#: A patient list larger than this is refused (a list of IDs and codes is far smaller).
MAX_LIST_BYTES = 5 * 1024 * 1024


class PeerForm(forms.ModelForm):
    class Meta:
        model = PacsPeer
        fields = ["name", "ae_title", "host", "port"]
        labels = {
            "name": _("Name"),
            "ae_title": _("AE title"),
            "host": _("Host"),
            "port": _("Port"),
        }
        help_texts = {"ae_title": _("The PACS's own AE title, at most 16 characters.")}

    def clean_ae_title(self) -> str:
        return check(dimse.check_ae_title, self.cleaned_data["ae_title"])

    def clean_host(self) -> str:
        return check(dimse.check_host, self.cleaned_data["host"])


def check(func: Any, value: Any) -> Any:
    try:
        return func(value)
    except dimse.InvalidPeer as exc:
        raise forms.ValidationError(str(exc)) from exc


class ImportForm(forms.Form):
    peer = forms.ModelChoiceField(queryset=PacsPeer.objects.all(), label=_("PACS"))
    since = forms.DateField(
        label=_("Study date from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Study date to (optional)"), required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    modality = forms.CharField(
        label=_("Modality (optional, e.g. CT)"), required=False, max_length=16
    )
    owner = forms.EmailField(label=_("Account the studies go to (email)"))
    patients = forms.FileField(
        label=_("Patient list (optional CSV with a patient_id column)"), required=False
    )

    def clean_modality(self) -> str:
        return str(check(dimse.check_modality, self.cleaned_data["modality"]))

    def clean_owner(self) -> User:
        email = self.cleaned_data["owner"]
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise forms.ValidationError(
                gettext("No active account with the email %(email)s.") % {"email": email}
            )
        return user

    def clean_patients(self) -> Cohort | None:
        upload = self.cleaned_data.get("patients")
        if not upload:
            return None
        if upload.size > MAX_LIST_BYTES:
            raise forms.ValidationError(gettext("The patient list is larger than 5 MB."))
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                gettext("The patient list must be a UTF-8 CSV file.")
            ) from None
        try:
            return read_cohort(text)
        except CohortError as exc:
            raise forms.ValidationError(
                gettext("Patient list: %(error)s.") % {"error": exc}
            ) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since: dt.date | None = data.get("since")
        until: dt.date | None = data.get("until")
        if since and until and until < since:
            self.add_error("until", gettext("The end date is before the start date."))
        return data
