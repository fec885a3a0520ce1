"""Worklist order and flags, the admin overview (overdue, load) and the deliveries page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.reports.factories import add_instance, case_of, make_study

pytestmark = pytest.mark.django_db


def row_ids(html: str, kind: str) -> list[int]:
    return [
        int(m)
        for m in re.findall(
            rf'data-testid="worklist-row" data-request-id="(\d+)" data-kind="{kind}"', html
        )
    ]


def test_pool_sorted_urgent_first_then_oldest_with_flags(
    login: Any, patient: Any, radiologist: Any, other_radiologist: Any
):
    new_routine = make_study(patient, waiting=timedelta(hours=1))
    old_routine = make_study(patient, waiting=timedelta(hours=100), modalities="MR")
    new_urgent = make_study(patient, urgency="urgent", waiting=timedelta(minutes=5))
    old_urgent = make_study(patient, urgency="urgent", waiting=timedelta(hours=3))
    add_instance(new_routine, needs_pixel_review=True)
    mine = make_study(patient, status="in_review", assigned_to=radiologist)
    make_study(patient, status="in_review", assigned_to=other_radiologist)  # not shown
    make_study(patient, status="processing")  # not shown

    html = login(radiologist).get("/worklist/").content.decode()
    new_routine, old_routine, new_urgent, old_urgent, mine = (
        case_of(study) for study in (new_routine, old_routine, new_urgent, old_urgent, mine)
    )
    assert row_ids(html, "pool") == [old_urgent.pk, new_urgent.pk, old_routine.pk, new_routine.pk]
    assert row_ids(html, "mine") == [mine.pk]
    rows = {
        int(m.group(1)): m.group(0)
        for m in re.finditer(r'data-request-id="(\d+)" data-kind="\w+".*?</tr>', html, re.S)
    }
    assert 'data-testid="flag-pixel-review"' in rows[new_routine.pk]
    assert 'data-testid="flag-pixel-review"' not in rows[old_routine.pk]
    assert 'data-testid="flag-overdue"' in rows[old_routine.pk]  # 100 h > 72 h
    assert 'data-testid="flag-overdue"' not in rows[old_urgent.pk]
    assert 'data-testid="claim-button"' in rows[new_routine.pk]
    assert 'data-testid="claim-button"' not in rows[mine.pk]
    assert 'data-testid="worklist-open-report"' in rows[mine.pk]
    assert ">MR<" in rows[old_routine.pk]


def test_turnaround_is_configurable(login: Any, settings: Any, patient: Any, radiologist: Any):
    settings.REPORT_TURNAROUND_HOURS = 2
    make_study(patient, waiting=timedelta(hours=3))
    assert 'data-testid="flag-overdue"' in login(radiologist).get("/worklist/").content.decode()


def test_admin_overview_shows_unassigned_overdue_and_load(
    login: Any, patient: Any, radiologist: Any, other_radiologist: Any, admin_user: Any
):
    waiting = make_study(patient)
    late = make_study(patient, waiting=timedelta(hours=80))
    late_mine = make_study(
        patient, status="in_review", assigned_to=radiologist, waiting=timedelta(hours=90)
    )
    make_study(patient, status="in_review", assigned_to=radiologist)
    make_study(patient, status="reported", assigned_to=other_radiologist)  # done: no load

    html = login(admin_user).get("/manage/").content.decode()
    waiting, late, late_mine = (case_of(study) for study in (waiting, late, late_mine))
    for case in (waiting, late):
        assert f'data-testid="assign-row" data-request-id="{case.pk}"' in html
    assert (
        f'data-testid="reassign-row" data-request-id="{late_mine.pk}" data-overdue="true"' in html
    )
    overdue = re.findall(r'data-testid="overdue-row" data-request-id="(\d+)"', html)
    assert sorted(map(int, overdue)) == sorted([late.pk, late_mine.pk])
    load = dict(
        re.findall(
            r'data-testid="load-row" data-user-id="(\d+)">.*?data-testid="load-open">(\d+)<', html
        )
    )
    assert load == {str(radiologist.pk): "2", str(other_radiologist.pk): "0"}
    overdue_load = re.search(
        rf'data-user-id="{radiologist.pk}">.*?data-testid="load-overdue">(\d+)<', html
    )
    assert overdue_load and overdue_load.group(1) == "1"


def test_admin_reassigns_a_request_in_review(
    login: Any, patient: Any, radiologist: Any, other_radiologist: Any, admin_user: Any
):
    study = make_study(patient, status="in_review", assigned_to=radiologist)
    login(admin_user).post(
        f"/manage/requests/{case_of(study).pk}/assign/", {"radiologist": other_radiologist.pk}
    )
    study.refresh_from_db()
    assert case_of(study).assigned_to == other_radiologist
    assert case_of(study).status == "in_review"
    # the new radiologist can report it, the old one no longer sees it
    assert login(other_radiologist).get(f"/requests/{case_of(study).pk}/report/").status_code == 200
    assert login(radiologist).get(f"/requests/{case_of(study).pk}/report/").status_code == 404
