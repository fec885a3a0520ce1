"""The DICOMweb transactions: each route's view identifies the caller, is audited once
(``dicomweb.access.dicomweb_view``) and hands over to ``qido``, ``wado`` or ``stow``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET, require_http_methods

from dicomweb import qido, stow, wado
from dicomweb.access import Caller, dicomweb_view


@require_http_methods(["GET", "POST"])
@dicomweb_view("studies")
def studies(request: HttpRequest, caller: Caller) -> HttpResponse:
    """GET: search for studies (QIDO-RS). POST: store instances (STOW-RS)."""
    if request.method == "POST":
        return stow.store(request, caller)
    return qido.search_studies(request, caller)


@require_http_methods(["GET", "POST"])
@dicomweb_view("study")
def study(request: HttpRequest, caller: Caller, study: str) -> HttpResponseBase:
    """GET: the study's instances (WADO-RS). POST: store instances of this study."""
    if request.method == "POST":
        return stow.store(request, caller, study)
    return wado.retrieve_study(request, caller, study)


@require_GET
@dicomweb_view("metadata")
def study_metadata(request: HttpRequest, caller: Caller, study: str) -> HttpResponse:
    return wado.study_metadata(request, caller, study)


@require_GET
@dicomweb_view("search")
def all_series(request: HttpRequest, caller: Caller) -> HttpResponse:
    return qido.search_series(request, caller, None)


@require_GET
@dicomweb_view("search")
def study_series(request: HttpRequest, caller: Caller, study: str) -> HttpResponse:
    return qido.search_series(request, caller, study)


@require_GET
@dicomweb_view("search")
def all_instances(request: HttpRequest, caller: Caller) -> HttpResponse:
    return qido.search_instances(request, caller, None, None)


@require_GET
@dicomweb_view("search")
def study_instances(request: HttpRequest, caller: Caller, study: str) -> HttpResponse:
    return qido.search_instances(request, caller, study, None)


@require_GET
@dicomweb_view("search")
def series_instances(request: HttpRequest, caller: Caller, study: str, series: str) -> HttpResponse:
    return qido.search_instances(request, caller, study, series)


@require_GET
@dicomweb_view("series")
def series(request: HttpRequest, caller: Caller, study: str, series: str) -> HttpResponseBase:
    return wado.retrieve_series(request, caller, study, series)


@require_GET
@dicomweb_view("metadata")
def series_metadata(request: HttpRequest, caller: Caller, study: str, series: str) -> HttpResponse:
    return wado.series_metadata(request, caller, study, series)


@require_GET
@dicomweb_view("instance")
def instance(
    request: HttpRequest, caller: Caller, study: str, series: str, sop: str
) -> HttpResponseBase:
    return wado.retrieve_instance(request, caller, study, series, sop)


@require_GET
@dicomweb_view("metadata")
def instance_metadata(
    request: HttpRequest, caller: Caller, study: str, series: str, sop: str
) -> HttpResponse:
    return wado.instance_metadata(request, caller, study, series, sop)


@require_GET
@dicomweb_view("frames", quiet=True)
def frames(
    request: HttpRequest, caller: Caller, study: str, series: str, sop: str, frames: str
) -> HttpResponseBase:
    return wado.frames(request, caller, study, series, sop, frames)


@require_GET
@dicomweb_view("rendered", quiet=True)
def rendered(
    request: HttpRequest, caller: Caller, study: str, series: str, sop: str
) -> HttpResponse:
    return wado.rendered(request, caller, study, series, sop)


@require_GET
@dicomweb_view("rendered", quiet=True)
def frame_rendered(
    request: HttpRequest, caller: Caller, study: str, series: str, sop: str, frames: str
) -> HttpResponse:
    return wado.rendered(request, caller, study, series, sop, frames)
