"""A review request's page: what was asked, where it is (timeline, radiologist, report),
what the user may do with it, every study it covers and the same patient's earlier
studies (priors), each with a link to the viewer."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.decorators import login_required
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from portal.accounts.models import Role, User
from portal.audit.log import record
from reports.templatetags.reporting import case_actions
from uploads.models import ReviewRequest, Study
from uploads.permissions import visible_requests, visible_studies


def priors(case: ReviewRequest, studies: Sequence[Study], user: object) -> QuerySet[Study]:
    """The same pseudonymised patient's other studies (same owner and pseudonym), that
    ``user`` may see, oldest last; the request's own studies are not priors."""
    pseudonyms = {study.patient_pseudonym for study in studies if study.patient_pseudonym}
    return (
        visible_studies(user)
        .filter(owner=case.owner_id, patient_pseudonym__in=pseudonyms)
        .exclude(pk__in=[study.pk for study in studies])
        .annotate(n_series=Count("series", distinct=True), n_images=Count("series__instances"))
        .order_by("-study_date", "-pk")
    )


@login_required
def review_request(request: HttpRequest, pk: int) -> HttpResponse:
    """The request: its question, its studies and the priors (404 if not the user's to see)."""
    case = visible_requests(request.user).filter(pk=pk).first()
    if case is None:
        raise Http404("No such request")
    studies = list(
        visible_studies(request.user)
        .filter(review_requests=case)
        .annotate(n_series=Count("series", distinct=True), n_images=Count("series__instances"))
        .order_by("-study_date", "-pk")
    )
    record(request, "request.viewed", case)
    radiologists = None
    if request.user.role == Role.ADMIN:  # type: ignore[union-attr]
        radiologists = User.objects.filter(role=Role.RADIOLOGIST, is_active=True)
    return render(
        request,
        "reports/review_request.html",
        {
            "studies": studies,
            "priors": priors(case, studies, request.user),
            "radiologists": radiologists,
            **case_actions(case, request.user),
        },
    )
