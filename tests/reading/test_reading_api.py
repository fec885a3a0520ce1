"""Issue 18 (reading room), server side: region statistics and pixel probe from the
stored pixels, annotations saved with the report draft (validated at the edge), key
images drawn with their annotations, orientation labels, the mouse convention."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from reports import images
from reports.models import ReportVersion
from tests.reports.factories import add_instance, case_of, make_study, sign_report
from uploads.models import Instance, Study

pytestmark = pytest.mark.django_db


def hu() -> np.ndarray:
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def first_instance(study: Study) -> Instance:
    return Instance.objects.filter(series__study=study).order_by("pk")[0]


def test_roi_statistics_are_hounsfield_units_of_the_stored_pixels(
    login: Any, assigned_study: Study, radiologist: Any
) -> None:
    instance = first_instance(assigned_study)
    client = login(radiologist)
    url = f"/api/instances/{instance.pk}/roi/?shape=rectangle&x0=20&y0=30&x1=50&y1=70"
    body = client.get(url).json()
    block = hu()[30:70, 20:50]
    assert body["unit"] == "HU" and body["pixels"] == block.size
    assert body["mean"] == pytest.approx(block.mean())
    assert body["sd"] == pytest.approx(block.std())
    assert (body["min"], body["max"]) == (block.min(), block.max())
    assert body["area_unit"] == "mm²"
    ellipse = client.get(url.replace("rectangle", "ellipse")).json()
    assert ellipse["pixels"] < body["pixels"]

    probe = client.get(f"/api/instances/{instance.pk}/probe/?x=33.7&y=12.2").json()
    assert probe["value"] == hu()[12, 33] and probe["unit"] == "HU"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("shape=star&x0=1&y0=1&x1=5&y1=5", "shape must be rectangle or ellipse"),
        ("shape=rectangle&x0=1&y0=1&x1=5", "y1 is missing"),
        ("shape=rectangle&x0=abc&y0=1&x1=5&y1=5", "x0 must be a number"),
        ("shape=rectangle&x0=nan&y0=1&x1=5&y1=5", "x0 must be a finite number"),
        ("shape=rectangle&x0=1&y0=1&x1=5&y1=5&frame=3", "this image has no such frame"),
        ("shape=rectangle&x0=1&y0=1&x1=5&y1=5&frame=x", "frame must be a whole number"),
        ("shape=ellipse&x0=500&y0=500&x1=600&y1=600", "the region is too small"),
    ],
)
def test_bad_region_queries_get_a_plain_message(
    login: Any, assigned_study: Study, radiologist: Any, query: str, message: str
) -> None:
    instance = first_instance(assigned_study)
    response = login(radiologist).get(f"/api/instances/{instance.pk}/roi/?{query}")
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_probe_outside_the_image_and_someone_elses_image(
    login: Any, assigned_study: Study, radiologist: Any, other_patient: Any
) -> None:
    instance = first_instance(assigned_study)
    response = login(radiologist).get(f"/api/instances/{instance.pk}/probe/?x=128&y=3")
    assert response.status_code == 400 and "outside" in response.json()["error"]
    response = login(other_patient).get(f"/api/instances/{instance.pk}/probe/?x=1&y=3")
    assert response.status_code == 404


def test_geometry_gives_orientation_letters(
    login: Any, assigned_study: Study, radiologist: Any
) -> None:
    instance = first_instance(assigned_study)
    body = login(radiologist).get(f"/api/instances/{instance.pk}/geometry/").json()
    assert body["orientation"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # CT_small is axial
    assert body["labels"] == {"left": "R", "right": "L", "top": "A", "bottom": "P"}


def annotations_url(study: Study) -> str:
    return f"/requests/{case_of(study).pk}/report/annotations/"


def post(client: Any, url: str, data: Any) -> Any:
    return client.post(url, json.dumps(data), content_type="application/json")


def test_annotations_are_saved_with_the_draft_and_validated(
    login: Any, assigned_study: Study, radiologist: Any, patient: Any
) -> None:
    instance = first_instance(assigned_study)
    client = login(radiologist)
    marks = [
        {"id": "a1", "instance_id": instance.pk, "frame": 0, "kind": "length",
         "points": [[10, 10], [60.5, 20]]},
        {"id": "a2", "instance_id": instance.pk, "frame": 0, "kind": "ellipse",
         "points": [[30, 30], [70, 60]]},
        {"id": "a3", "instance_id": instance.pk, "frame": 0, "kind": "angle",
         "points": [[10, 10], [20, 20], [40, 10]]},
    ]  # fmt: skip
    response = post(client, annotations_url(assigned_study), {"annotations": marks})
    assert response.status_code == 200, response.content
    draft = ReportVersion.objects.get(report__study=assigned_study)
    assert draft.annotations == [
        {**m, "points": [[float(x), float(y)] for x, y in m["points"]]} for m in marks
    ]
    got = client.get(annotations_url(assigned_study)).json()
    assert got == {"annotations": draft.annotations, "editable": True}

    other = make_study(patient, instances=1)
    foreign = first_instance(other)
    bad = [
        ({"annotations": "x"}, "must be a list"),
        ({"annotations": [{**marks[0], "points": [[10, 10], [129, 5]]}]}, "outside its image"),
        ({"annotations": [{**marks[0], "points": [[10, 10], [-1, 5]]}]}, "outside its image"),
        ({"annotations": [{**marks[0], "points": [[10, 10], ["5", 5]]}]}, "pair of numbers"),
        ({"annotations": [{**marks[0], "points": [[10, 10]]}]}, "needs 2 point"),
        ({"annotations": [{**marks[0], "kind": "polygon"}]}, "Unknown kind"),
        (
            {"annotations": [{**marks[0], "instance_id": foreign.pk}]},
            "not on an image of this request's studies",
        ),
        ({"annotations": [{**marks[0], "instance_id": "7"}]}, "needs the image"),
        ({"annotations": [{**marks[0], "frame": 2}]}, "frame is out of range"),
        ({"annotations": [{**marks[0], "id": "<script>"}]}, "id must be"),
        ({}, "Send the list of annotations"),
    ]
    for body, message in bad:
        response = post(client, annotations_url(assigned_study), body)
        assert response.status_code == 400, body
        assert message in response.json()["error"], (body, response.json())
    # NaN in JSON is a number to Python's parser, never a coordinate.
    raw = '{"annotations": [{"instance_id": %d, "kind": "probe", "points": [[NaN, 1]]}]}'
    response = client.post(
        annotations_url(assigned_study), raw % instance.pk, content_type="application/json"
    )
    assert response.status_code == 400
    draft.refresh_from_db()
    assert len(draft.annotations) == 3  # nothing bad was stored


def test_signed_report_keeps_its_annotations(
    login: Any, assigned_study: Study, radiologist: Any
) -> None:
    instance = first_instance(assigned_study)
    client = login(radiologist)
    mark = {"id": "a1", "instance_id": instance.pk, "frame": 0, "kind": "probe", "points": [[5, 5]]}
    post(client, annotations_url(assigned_study), {"annotations": [mark]})
    sign_report(assigned_study, radiologist)
    response = post(client, annotations_url(assigned_study), {"annotations": []})
    assert response.status_code == 409
    got = client.get(annotations_url(assigned_study)).json()
    assert got["editable"] is False and got["annotations"][0]["id"] == "a1"


def yellow(png: bytes) -> np.ndarray:
    """Mask of the annotation colour (#ffd400) in a PNG."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return (rgb[..., 0] > 200) & (rgb[..., 1] > 170) & (rgb[..., 1] < 240) & (rgb[..., 2] < 80)


def test_key_image_is_drawn_with_the_annotations_of_its_image(
    assigned_study: Study, radiologist: Any
) -> None:
    instance = first_instance(assigned_study)
    second = add_instance(assigned_study)
    entry = {"instance_id": instance.pk, "frame": 0, "center": 40, "width": 400}
    bare = images.key_image_png(entry, size=256)
    assert bare is not None and not yellow(bare).any()
    line = {"id": "a1", "instance_id": instance.pk, "frame": 0, "kind": "length",
            "points": [[32, 64], [96, 64]]}  # fmt: skip
    elsewhere = {**line, "id": "a2", "instance_id": second.pk, "points": [[0, 0], [128, 128]]}
    drawn = images.key_image_png(entry, size=256, annotations=[line, elsewhere])
    assert drawn is not None
    mask = yellow(drawn)
    rows, cols = np.nonzero(mask)
    # The 128-pixel image is enlarged to 256 to draw on: the line is at 2x its image
    # coordinates, 64..192 at row 128 (its label below-right of its end); nothing of
    # the other image's diagonal.
    assert Image.open(io.BytesIO(drawn)).size == (256, 256)
    on_line = mask[125:132, 64:193]
    assert on_line.any(axis=0).mean() > 0.95
    assert not mask[0:100, 0:100].any()
    assert rows.min() >= 120 and cols.min() >= 60


def test_key_image_taken_zoomed_is_cropped_around_the_viewport_centre(
    assigned_study: Study,
) -> None:
    instance = first_instance(assigned_study)
    entry = {"instance_id": instance.pk, "frame": 0, "center": 40, "width": 400,
             "zoom": 2.0, "cx": 0.25, "cy": 0.25}  # fmt: skip
    mark = {
        "id": "a1",
        "instance_id": instance.pk,
        "frame": 0,
        "kind": "probe",
        "points": [[32, 32]],
    }
    png = images.key_image_png(entry, size=256, annotations=[mark])
    assert png is not None
    image = Image.open(io.BytesIO(png))
    assert image.size == (256, 256)  # the quarter around (0.25, 0.25), enlarged
    mask = yellow(png)
    # The probe's cross at image (32, 32): the centre of that quarter (its value is
    # written below-right of it; nothing is drawn above-left).
    assert mask[125:132, 123:134].any(axis=0).all()
    assert mask[123:134, 125:132].any(axis=1).all()
    assert not mask[:110, :].any() and not mask[:, :110].any()


def test_mouse_convention_is_kept_per_user(login: Any, radiologist: Any) -> None:
    client = login(radiologist)
    assert post(client, "/api/viewer/mouse/", {"mouse": "classic"}).status_code == 200
    radiologist.refresh_from_db()
    assert radiologist.viewer_mouse == "classic"
    response = post(client, "/api/viewer/mouse/", {"mouse": "left-handed"})
    assert response.status_code == 400 and "mouse must be one of" in response.json()["error"]
