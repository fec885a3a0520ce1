"""Issue 18, "What was seen": a measurement stayed on screen when the slice changed, was
drawn in the wrong place after the layout changed (Attributes opened, window resized),
only one could exist and Esc did not clear it; the Attributes table was 942 px wide in a
420 px panel, with no search. Measurements now belong to their image, in image
coordinates, and are redrawn from them; the canvas names what it drew (stage pixels) in
``data-measures``, which these tests compare with the image's place on screen."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import browser_login
from tests.uploads.test_viewer_browser import shown

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def drawn(page: Any) -> list[list[float]]:
    return list(json.loads(page.get_by_test_id("viewer-overlay").get_attribute("data-measures")))


def draw(page: Any, a: tuple[float, float], b: tuple[float, float]) -> None:
    """A line between two points given as fractions of the image's box."""
    box = page.get_by_test_id("viewer-image").bounding_box()
    page.mouse.move(box["x"] + box["width"] * a[0], box["y"] + box["height"] * a[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * b[0], box["y"] + box["height"] * b[1], steps=4)
    page.mouse.up()


def expected(page: Any, lines: list[tuple[float, float, float, float]]) -> list[list[float]]:
    """Where lines given in fractions of the image should be, in stage pixels, now."""
    image = page.get_by_test_id("viewer-image").bounding_box()
    stage = page.get_by_test_id("viewer-stage").bounding_box()
    left, top = image["x"] - stage["x"], image["y"] - stage["y"]
    w, h = image["width"], image["height"]
    return [[left + ax * w, top + ay * h, left + bx * w, top + by * h]
            for ax, ay, bx, by in lines]  # fmt: skip


def same_place(got: list[list[float]], want: list[list[float]]) -> bool:
    return len(got) == len(want) and all(
        abs(g - w) <= 2.0 for line_g, line_w in zip(got, want, strict=True)
        for g, w in zip(line_g, line_w, strict=True)
    )  # fmt: skip


def test_measurements_stay_with_their_image_and_their_place(
    page: Any, patient: Any, imported_study: Any
) -> None:
    browser_login(page, patient.email)
    page.goto(f"/studies/{imported_study.pk}/viewer/")
    page.wait_for_selector("body[data-ready=true]")
    shown(page)
    page.keyboard.press("m")
    horizontal, vertical = (0.25, 0.5, 0.75, 0.5), (0.5, 0.3, 0.5, 0.7)
    draw(page, horizontal[:2], horizontal[2:])
    draw(page, vertical[:2], vertical[2:])
    assert same_place(drawn(page), expected(page, [horizontal, vertical])), drawn(page)

    # Another slice: none of the first slice's measurements; one of its own.
    page.keyboard.press("ArrowDown")
    shown(page)
    assert drawn(page) == []
    draw(page, (0.2, 0.2), (0.4, 0.4))
    assert len(drawn(page)) == 1

    # Back: the first slice's two, where they were.
    page.keyboard.press("ArrowUp")
    shown(page)
    assert same_place(drawn(page), expected(page, [horizontal, vertical]))

    # The layout changes: the Attributes panel takes room, then the window shrinks.
    before = page.get_by_test_id("viewer-image").bounding_box()
    page.get_by_test_id("viewer-tags-toggle").click()
    page.get_by_test_id("viewer-tags").get_by_text("PatientIdentityRemoved").wait_for()
    page.wait_for_timeout(300)
    assert page.get_by_test_id("viewer-image").bounding_box() != before
    assert same_place(drawn(page), expected(page, [horizontal, vertical])), drawn(page)
    page.set_viewport_size({"width": 900, "height": 650})
    page.wait_for_timeout(300)
    assert same_place(drawn(page), expected(page, [horizontal, vertical])), drawn(page)

    # Delete removes the last one; Esc clears the image's and leaves measuring.
    page.get_by_test_id("viewer-stage").focus()
    page.keyboard.press("Delete")
    assert same_place(drawn(page), expected(page, [horizontal]))
    page.keyboard.press("Escape")
    assert drawn(page) == []
    draw(page, (0.3, 0.3), (0.6, 0.6))  # measuring is off: a drag pans, draws nothing
    assert drawn(page) == []


def test_attributes_fit_their_panel_and_can_be_searched(
    page: Any, patient: Any, imported_study: Any
) -> None:
    browser_login(page, patient.email)
    page.goto(f"/studies/{imported_study.pk}/viewer/")
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_test_id("viewer-tags-toggle").click()
    panel = page.get_by_test_id("viewer-tags")
    panel.get_by_text("PatientIdentityRemoved").wait_for()
    fits = panel.evaluate("el => el.querySelector('table').scrollWidth <= el.clientWidth + 1")
    assert fits, "the attribute table is wider than its panel"
    rows = panel.locator("tbody tr")
    total = rows.count()
    page.get_by_test_id("viewer-tags-search").fill("identity removed")
    visible = panel.locator("tbody tr:not([hidden])")
    assert 0 < visible.count() < total
    assert all("identity" in t.lower() for t in visible.all_inner_texts())
    page.get_by_test_id("viewer-tags-search").fill("0012,0062")
    assert visible.count() == 1 and "PatientIdentityRemoved" in visible.inner_text()
    assert page.get_by_test_id("viewer-tags-count").inner_text() == "1 shown"
    page.get_by_test_id("viewer-tags-search").fill("")
    assert visible.count() == total
