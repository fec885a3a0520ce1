"""QIDO-RS (PS3.18 10.6): search for studies, series and instances.

Matching (PS3.4 C.2.2.2, the common part): single value, universal (empty), a list of
UIDs (``a\\b`` or ``a,b``), wildcards ``*`` and ``?`` (not for UIDs and dates), ranges
for dates and times (``20200101-20201231``, ``-20201231``, ``20200101-``); person names
match case-insensitively. ``limit``, ``offset`` and ``includefield`` (keywords, tags or
``all``); ``fuzzymatching`` is accepted and ignored. The patient is known only by a
pseudonym: ``PatientID`` matches the pseudonym that the stored files carry.

The values come from the stored (de-identified) files; the study date and the patient's
pseudonym, UIDs and modalities narrow the candidates in the database first.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from dicomweb import attributes as attrs
from dicomweb.access import Caller, Invalid, checked_uid, find_series, find_study
from uploads.models import Instance, Series, Study

CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
RANGE_VRS = {"DA", "TM", "DT"}
CHUNK = 100
MEDIA = "application/dicom+json"


# -- the query -------------------------------------------------------------------------------


class Query:
    """Matching keys (tag → value), returned extra tags, limit and offset of a request."""

    def __init__(self, request: HttpRequest) -> None:
        self.keys: dict[str, str] = {}
        self.include: list[str] = []
        self.include_all = False
        cap = int(settings.DICOMWEB_QIDO_MAX_RESULTS)
        self.limit = number(request.GET.get("limit"), "limit", cap)
        self.explicit_limit = "limit" in request.GET
        self.limit = min(self.limit, cap)
        self.offset = number(request.GET.get("offset"), "offset", 0)
        for name in request.GET.getlist("includefield"):
            for item in filter(None, (part.strip() for part in name.split(","))):
                if item.lower() == "all":
                    self.include_all = True
                elif tag := attrs.tag_of(item):
                    self.include.append(tag)
                else:
                    raise Invalid(f"includefield: unknown attribute {item!r}")
        for name, values in request.GET.lists():
            if name in CONTROL:
                continue
            tag = attrs.tag_of(name)
            if not tag or attrs.vr_of(tag) == "SQ":
                raise Invalid(f"unknown or unsupported query key {name!r}")
            self.keys[tag] = values[-1]
            if attrs.vr_of(tag) == "UI":
                for uid in uid_list(values[-1]):
                    checked_uid(uid, attrs.keyword_of(tag))

    def value(self, keyword: str) -> str | None:
        return self.keys.get(attrs.tag_of(keyword))


def number(raw: str | None, name: str, default: int) -> int:
    if raw in (None, ""):
        return default
    if not re.fullmatch(r"\d{1,9}", raw):
        raise Invalid(f"{name} must be a whole number ≥ 0")
    return int(raw)


def uid_list(value: str) -> list[str]:
    return [uid for uid in re.split(r"[\\,]", value) if uid] if value else []


def plain(value: str) -> bool:
    """A single value without wildcards or list separators."""
    return bool(value) and not any(c in value for c in "*?\\,")


# -- matching one attribute ------------------------------------------------------------------


def values_of(item: dict[str, Any] | None) -> list[str]:
    out = []
    for value in (item or {}).get("Value", []):
        if isinstance(value, dict):  # PN
            out.append(str(value.get("Alphabetic", "")))
        else:
            out.append(str(value))
    return out


def in_range(value: str, wanted: str) -> bool:
    low, _, high = wanted.partition("-")
    width = max(len(low), len(high))
    candidate = value.replace(":", "")[:width] if width else value
    return (not low or candidate >= low.replace(":", "")) and (
        not high or candidate <= high.replace(":", "")
    )


def matches(item: dict[str, Any] | None, wanted: str) -> bool:
    """PS3.4 C.2.2.2 matching of one attribute against the requested value."""
    if wanted in ("", "*"):
        return True
    vr = (item or {}).get("vr", "")
    values = values_of(item)
    if vr == "UI":
        return any(value in uid_list(wanted) for value in values)
    if vr in RANGE_VRS and "-" in wanted:
        return any(in_range(value, wanted) for value in values)
    if vr == "PN":
        values, wanted = [value.lower() for value in values], wanted.lower()
    if "*" in wanted or "?" in wanted:
        pattern = re.compile(fnmatch.translate(wanted.replace("[", "[[]")), re.DOTALL)
        return any(pattern.match(value) for value in values)
    if "\\" in wanted and vr not in RANGE_VRS:
        return any(value in wanted.split("\\") for value in values)
    return wanted in values


# -- candidates per level --------------------------------------------------------------------


def narrow_studies(studies: QuerySet[Study], query: Query) -> QuerySet[Study]:
    """What the index can decide (the exact check against the files follows)."""
    if uids := uid_list(query.value("StudyInstanceUID") or ""):
        studies = studies.filter(study_instance_uid__in=uids)
    if (pid := query.value("PatientID")) and plain(pid):
        studies = studies.filter(patient_pseudonym=pid)
    if (modality := query.value("ModalitiesInStudy")) and plain(modality):
        studies = studies.filter(series__modality=modality)
    if (date := query.value("StudyDate")) and re.fullmatch(r"\d{8}|\d{8}?-\d{8}?", date):
        low, _, high = date.partition("-") if "-" in date else (date, "", date)
        as_date = "{}-{}-{}".format
        if low:
            studies = studies.filter(study_date__gte=as_date(low[:4], low[4:6], low[6:]))
        if high:
            studies = studies.filter(study_date__lte=as_date(high[:4], high[4:6], high[6:]))
    return studies.distinct()


def study_rows(caller: Caller, query: Query) -> QuerySet[Study]:
    studies = narrow_studies(caller.studies().exclude(study_instance_uid=""), query)
    return (
        Study.objects.filter(pk__in=studies.values("pk"))
        .annotate(
            n_series=Count("series", distinct=True),
            n_instances=Count("series__instances"),
            first=Min("series__instances__id"),
        )
        .filter(first__isnull=False)
        .order_by("pk")
    )


def series_rows(caller: Caller, query: Query, study: Study | None) -> QuerySet[Series]:
    if study is None:
        scope = Series.objects.filter(study__in=narrow_studies(caller.studies(), query))
    else:
        scope = study.series.all()
    if uids := uid_list(query.value("SeriesInstanceUID") or ""):
        scope = scope.filter(series_instance_uid__in=uids)
    if (modality := query.value("Modality")) and plain(modality):
        scope = scope.filter(modality=modality)
    return (
        scope.select_related("study")
        .annotate(n_instances=Count("instances"), first=Min("instances__id"))
        .filter(first__isnull=False)
        .order_by("study_id", "pk")
    )


def instance_rows(
    caller: Caller, query: Query, study: Study | None, series: Series | None
) -> QuerySet[Instance]:
    if series is not None:
        scope = series.instances.all()
    elif study is not None:
        scope = Instance.objects.filter(series__study=study)
    else:
        scope = Instance.objects.filter(series__study__in=narrow_studies(caller.studies(), query))
    if uids := uid_list(query.value("SOPInstanceUID") or ""):
        scope = scope.filter(sop_instance_uid__in=uids)
    if uids := uid_list(query.value("SeriesInstanceUID") or ""):
        scope = scope.filter(series__series_instance_uid__in=uids)
    return scope.select_related("series__study").order_by("series__study_id", "series_id", "pk")


# -- results ---------------------------------------------------------------------------------


class Search:
    def __init__(self, request: HttpRequest, query: Query, level: str, across: bool) -> None:
        self.request, self.query, self.level = request, query, level
        base = {"study": attrs.STUDY, "series": attrs.SERIES, "instance": attrs.INSTANCE}[level]
        if across and level != "study":  # /series, /instances, /studies/{uid}/instances
            base = attrs.STUDY + (attrs.SERIES + base if level == "instance" else base)
        self.returned = set(attrs.tags(base)) | set(query.include) | set(query.keys)

    def url(self, name: str, *uids: str) -> str:
        return self.request.build_absolute_uri(reverse(name, args=uids))

    def result(self, header: dict[str, Any], computed: dict[str, Any]) -> dict[str, Any] | None:
        merged = {**header, **computed}
        if not all(matches(merged.get(tag), value) for tag, value in self.query.keys.items()):
            return None
        keep = set(merged) if self.query.include_all else self.returned | set(computed)
        out = {tag: merged[tag] for tag in keep if tag in merged}
        for tag in sorted(self.returned - set(out)):  # asked for, absent: present and empty
            out[tag] = {"vr": attrs.vr_of(tag)}
        return dict(sorted(out.items()))

    def study_attributes(self, study: Study, n_series: int, n_instances: int) -> dict[str, Any]:
        modalities = sorted(set(filter(None, study.series.values_list("modality", flat=True))))
        return dict([
            attrs.element("ModalitiesInStudy", modalities),
            attrs.element("NumberOfStudyRelatedSeries", [n_series]),
            attrs.element("NumberOfStudyRelatedInstances", [n_instances]),
        ])  # fmt: skip

    def computed(self, row: Any) -> dict[str, Any]:
        if self.level == "study":
            out = self.study_attributes(row, row.n_series, row.n_instances)
            url = self.url("dicomweb-study", row.study_instance_uid)
        elif self.level == "series":
            out = dict([attrs.element("NumberOfSeriesRelatedInstances", [row.n_instances])])
            url = self.url("dicomweb-series", row.study.study_instance_uid,
                           row.series_instance_uid)  # fmt: skip
        else:
            series = row.series
            out = {}
            url = self.url("dicomweb-instance", series.study.study_instance_uid,
                           series.series_instance_uid, row.sop_instance_uid)  # fmt: skip
        out.update([attrs.element("RetrieveURL", [url]),
                    attrs.element("InstanceAvailability", ["ONLINE"])])  # fmt: skip
        return out

    def run(self, rows: QuerySet[Any]) -> tuple[list[dict[str, Any]], bool]:
        """The page of results, and whether more matched than the server's cap allowed."""
        found: list[dict[str, Any]] = []
        skipped = 0
        for chunk in chunks(rows):
            first = [row if self.level == "instance" else row.first for row in chunk]
            wanted = Instance.objects.select_related("series__study").filter(
                pk__in=[getattr(i, "pk", i) for i in first]
            )
            headers = attrs.headers(list(wanted))
            for row in chunk:
                key = row.pk if self.level == "instance" else row.first
                item = self.result(headers[key], self.computed(row))
                if item is None:
                    continue
                if skipped < self.query.offset:
                    skipped += 1
                    continue
                if len(found) == self.query.limit:
                    return found, True
                found.append(item)
        return found, False


def chunks(rows: QuerySet[Any]) -> Iterator[list[Any]]:
    start = 0
    while True:
        chunk = list(rows[start : start + CHUNK])
        if not chunk:
            return
        yield chunk
        start += CHUNK


def answer(
    request: HttpRequest, search: Search, rows: QuerySet[Any], caller: Caller
) -> HttpResponse:
    results, more = search.run(rows)
    caller.detail.update(level=search.level, results=len(results))
    if not results:
        return HttpResponse(status=204)
    response = HttpResponse(json.dumps(results), content_type=MEDIA)
    if more and not search.query.explicit_limit:
        host = request.get_host()
        response["Warning"] = (
            f'299 {host} "The number of results exceeded the maximum supported by the '
            'server. Additional results can be requested."'
        )
    return response


# -- the transactions (wrapped by dicomweb.views) ----------------------------------------------


def search_studies(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = Query(request)
    return answer(
        request, Search(request, query, "study", False), study_rows(caller, query), caller
    )


def search_series(request: HttpRequest, caller: Caller, study_uid: str | None) -> HttpResponse:
    query = Query(request)
    study = find_study(caller, study_uid) if study_uid else None
    search = Search(request, query, "series", study is None)
    return answer(request, search, series_rows(caller, query, study), caller)


def search_instances(
    request: HttpRequest, caller: Caller, study_uid: str | None, series_uid: str | None
) -> HttpResponse:
    query = Query(request)
    series = find_series(caller, study_uid, series_uid) if study_uid and series_uid else None
    study = series.study if series else find_study(caller, study_uid) if study_uid else None
    search = Search(request, query, "instance", series is None)
    return answer(request, search, instance_rows(caller, query, study, series), caller)
