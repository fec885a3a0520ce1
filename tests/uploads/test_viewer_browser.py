"""Headless Chromium: open a real multi-slice series, scroll with wheel and keys, apply a
preset, zoom; the displayed image changes and matches the PNG endpoint."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ARTIFACTS, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHECKSUM_JS = """() => {
  const img = document.querySelector('[data-testid=viewer-image]');
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let sum = 0;
  for (let i = 0; i < d.length; i += 4) sum += d[i];
  return {sum, w: c.width, h: c.height, src: img.getAttribute('src')};
}"""


def shown(page: Any) -> dict[str, Any]:
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=viewer-image]');"
        " return i.complete && i.naturalWidth > 0 && document.body.dataset.loaded === i.src; }"
    )
    return dict(page.evaluate(CHECKSUM_JS))


def endpoint_sum(page: Any, src: str) -> int:
    png = page.request.get(src).body()
    return int(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int64).sum())


def test_scroll_preset_zoom(page: Any, patient: Any, imported_study: Any) -> None:
    browser_login(page, patient.email)
    page.goto(f"/studies/{imported_study.pk}/viewer/")
    page.wait_for_selector("body[data-ready=true]")
    first = shown(page)
    index = page.get_by_test_id("viewer-slice-index")
    assert index.inner_text() == "11 / 20"
    assert first["sum"] == endpoint_sum(page, first["src"])

    page.get_by_test_id("viewer-stage").hover()
    page.mouse.wheel(0, 120)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=viewer-slice-index]').dataset.index === '11'"
    )
    after_wheel = shown(page)
    assert after_wheel["src"] != first["src"] and after_wheel["sum"] != first["sum"]
    assert after_wheel["sum"] == endpoint_sum(page, after_wheel["src"])

    for _ in range(3):
        page.keyboard.press("ArrowUp")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=viewer-slice-index]').dataset.index === '8'"
    )
    assert index.inner_text() == "9 / 20"
    before_window = shown(page)

    # Left-drag changes the window (the OHIF/Weasis convention, the default since issue 18;
    # debounced re-render on the server).
    box = page.get_by_test_id("viewer-stage").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2 + 40, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=viewer-image]').src.includes('wc=')"
    )
    windowed = shown(page)
    assert windowed["sum"] != before_window["sum"]
    assert windowed["sum"] == endpoint_sum(page, windowed["src"])

    box_before = page.get_by_test_id("viewer-image").bounding_box()
    page.get_by_test_id("viewer-zoom-in").click()
    page.get_by_test_id("viewer-zoom-in").click()
    box_after = page.get_by_test_id("viewer-image").bounding_box()
    assert box_after["width"] > box_before["width"] * 1.4
    assert page.get_by_test_id("viewer-zoom").inner_text() == "156%"

    # Distance measurement in mm from PixelSpacing.
    page.get_by_test_id("viewer-fit").click()
    page.keyboard.press("m")
    box = page.get_by_test_id("viewer-image").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    result = page.get_by_test_id("viewer-measure-result").inner_text()
    spacing = imported_study.series.get().instances.first().pixel_spacing
    columns = imported_study.series.get().instances.first().columns
    expected = 0.5 * columns * float(spacing[1])
    assert result.endswith(" mm")
    assert abs(float(result.split()[0]) - expected) < 0.03 * expected

    page.get_by_test_id("viewer-tags-toggle").click()
    page.get_by_test_id("viewer-tags").get_by_text("PatientIdentityRemoved").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer.png"))


def test_ct_presets(page: Any, patient: Any, ct_series: Any) -> None:
    from django.core.management import call_command

    from uploads.models import Study

    call_command(
        "import_dicom", *map(str, ct_series), "--owner", patient.email, stdout=io.StringIO()
    )
    study = Study.objects.get(owner=patient)
    browser_login(page, patient.email)
    page.goto(f"/studies/{study.pk}/viewer/")
    page.wait_for_selector("body[data-ready=true]")
    default = shown(page)
    assert default["sum"] > 0  # not black
    for preset in ["lung", "bone", "brain"]:
        page.get_by_test_id(f"viewer-preset-{preset}").click()
        image_has = "document.querySelector('[data-testid=viewer-image]').src.includes"
        page.wait_for_function(f"() => {image_has}('preset={preset}')")
        image = shown(page)
        assert image["sum"] == endpoint_sum(page, image["src"])
        assert image["sum"] != default["sum"]
    page.keyboard.press("0")  # back to the file's own window
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=viewer-image]').src.includes('preset=')"
    )
    assert shown(page)["sum"] == default["sum"]
    page.screenshot(path=str(ARTIFACTS / "viewer-ct-brain.png"))


def test_viewport_size_and_zoom_resolution(page: Any, patient: Any, ct_series: Any) -> None:
    """A small stage gets a smaller PNG (its device pixels, rounded up to a step); zooming
    in asks for the full image, whose pixels match the endpoint's."""
    from django.core.cache import cache
    from django.core.management import call_command

    from uploads.models import Study

    # Cached slices are keyed by instance id and stored file name, which repeat from one
    # test to the next (the database is emptied between tests, the cache is not).
    cache.clear()
    call_command(
        "import_dicom", *map(str, ct_series[:3]), "--owner", patient.email, stdout=io.StringIO()
    )
    study = Study.objects.get(owner=patient)
    page.set_viewport_size({"width": 370, "height": 460})
    browser_login(page, patient.email)
    page.goto(f"/studies/{study.pk}/viewer/")
    page.wait_for_selector("body[data-ready=true]")
    small = shown(page)
    stage = page.get_by_test_id("viewer-stage").bounding_box()
    need = max(stage["width"], stage["height"]) * page.evaluate("window.devicePixelRatio")
    assert need <= 384, "the test needs a stage smaller than the 512² CT"
    step = next(s for s in (128, 256, 384) if s >= need)
    assert f"size={step}" in small["src"] and small["w"] == step
    assert small["sum"] == endpoint_sum(page, small["src"])

    page.get_by_test_id("viewer-zoom-in").click()
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=viewer-image]').src.includes('size=')"
    )
    zoomed = shown(page)
    assert zoomed["w"] == 512 and zoomed["h"] == 512, zoomed
    assert zoomed["sum"] == endpoint_sum(page, zoomed["src"])

    page.get_by_test_id("viewer-fit").click()
    page.wait_for_function(
        f"() => document.querySelector('[data-testid=viewer-image]').src.includes('size={step}')"
    )
