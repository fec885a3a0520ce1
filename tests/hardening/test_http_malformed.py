"""Malformed requests to the upload API and the viewer: a 4xx with a JSON error, never a 500.

Django's test client re-raises view exceptions, so a server error shows up here as an
exception or a 500, and either fails the test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.hardening.corpus import good_file
from tests.uploads.conftest import sha

pytestmark = pytest.mark.django_db

HEX = "a" * 64
NUL_NAME = "scan\x00.dcm"


@pytest.fixture
def client(login: Any, patient: Any) -> Any:
    return login(patient)


@pytest.fixture
def upload(client: Any) -> int:
    response = client.post("/api/uploads/", {"expected_files": 3}, content_type="application/json")
    assert response.status_code == 201
    return int(response.json()["id"])


def assert_json_4xx(response: Any, *codes: int) -> dict[str, Any]:
    assert response.status_code in (codes or range(400, 500)), (
        response.status_code,
        response.content[:300],
    )
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return dict(body)


CREATE_BODIES: list[tuple[str, bytes, str]] = [
    ("not json", b"{expected_files: 3", "application/json"),
    ("truncated json", b'{"expected_files": 3', "application/json"),
    ("json list", b"[1, 2, 3]", "application/json"),
    ("json string", b'"hello"', "application/json"),
    ("invalid utf-8", b'{"expected_files": 3, "history": "\xff\xfe"}', "application/json"),
    ("form encoded", b"expected_files=3", "application/x-www-form-urlencoded"),
    ("multipart", b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x"),
    ("expected as text", b'{"expected_files": "3"}', "application/json"),
    ("expected negative", b'{"expected_files": -1}', "application/json"),
    ("expected huge", b'{"expected_files": 100000000000000000000000000000}', "application/json"),
    ("expected float", b'{"expected_files": 2.5}', "application/json"),
    ("expected null", b'{"expected_files": null}', "application/json"),
    ("urgency list", b'{"expected_files": 1, "urgency": ["urgent"]}', "application/json"),
    ("urgency object", b'{"expected_files": 1, "urgency": {"a": 1}}', "application/json"),
    ("deep nesting", b'{"expected_files": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
]


@pytest.mark.parametrize(
    ("label", "body", "content_type"), CREATE_BODIES, ids=[c[0] for c in CREATE_BODIES]
)
def test_create_refuses_malformed_bodies(
    client: Any, label: str, body: bytes, content_type: str
) -> None:
    assert_json_4xx(client.generic("POST", "/api/uploads/", body, content_type=content_type), 400)


def test_create_with_nul_and_odd_text_fields_does_not_fail(client: Any) -> None:
    payload = {"expected_files": 1, "clinical_question": "why\x00?", "history": {"a": [1]},
               "client_deidentified": "yes"}  # fmt: skip
    response = client.post("/api/uploads/", payload, content_type="application/json")
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        assert_json_4xx(response, 400)


REGISTER_BODIES: list[tuple[str, Any]] = [
    ("files missing", {}),
    ("files not a list", {"files": "a.dcm"}),
    ("files empty", {"files": []}),
    ("entry not an object", {"files": ["a.dcm"]}),
    ("entry null", {"files": [None]}),
    ("key missing", {"files": [{"name": "a.dcm", "size": 10}]}),
    ("key not hex", {"files": [{"key": "z" * 64, "name": "a.dcm", "size": 10}]}),
    ("key uppercase", {"files": [{"key": "A" * 64, "name": "a.dcm", "size": 10}]}),
    ("key short", {"files": [{"key": "a" * 63, "name": "a.dcm", "size": 10}]}),
    ("key traversal", {"files": [{"key": "../../etc/passwd", "name": "a.dcm", "size": 10}]}),
    ("key number", {"files": [{"key": 12345, "name": "a.dcm", "size": 10}]}),
    ("size negative", {"files": [{"key": HEX, "name": "a.dcm", "size": -5}]}),
    ("size text", {"files": [{"key": HEX, "name": "a.dcm", "size": "10"}]}),
    ("size float", {"files": [{"key": HEX, "name": "a.dcm", "size": 1.5}]}),
    ("size null", {"files": [{"key": HEX, "name": "a.dcm", "size": None}]}),
    ("too many files", {"files": [{"key": HEX, "name": "a", "size": 1}] * 1001}),
]


@pytest.mark.parametrize(("label", "payload"), REGISTER_BODIES, ids=[c[0] for c in REGISTER_BODIES])
def test_register_refuses_malformed_entries(
    client: Any, upload: int, label: str, payload: Any
) -> None:
    response = client.post(
        f"/api/uploads/{upload}/files/", payload, content_type="application/json"
    )
    assert_json_4xx(response, 400)


@pytest.mark.parametrize("size", [10**30, 2**63, 2**63 - 1, 10**15])
def test_register_absurd_sizes_are_refused_per_file(client: Any, upload: int, size: int) -> None:
    response = client.post(
        f"/api/uploads/{upload}/files/",
        {"files": [{"key": HEX, "name": "a.dcm", "size": size}]},
        content_type="application/json",
    )
    if response.status_code == 200:
        (state,) = response.json()["files"]
        assert state["status"] == "rejected" and "too large" in state["message"]
    else:
        assert_json_4xx(response, 400)


def test_register_odd_names_are_kept_or_cleaned(client: Any, upload: int) -> None:
    names = [NUL_NAME, "x" * 5000, {"a": 1}, 12, "\u202eevil.dcm", "..\\..\\a.dcm", ""]
    entries = [{"key": f"{i:064x}", "name": name, "size": 10} for i, name in enumerate(names)]
    response = client.post(f"/api/uploads/{upload}/files/", {"files": entries},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 200, response.content[:300]
    stored = [f["name"] for f in response.json()["files"]]
    assert all("\x00" not in name and len(name) <= 255 for name in stored)
    assert stored[0].startswith("scan") and stored[5] == "..\\..\\a.dcm"


def put(client: Any, upload: int, key: str, body: bytes, **headers: str) -> Any:
    return client.generic("PUT", f"/api/uploads/{upload}/files/{key}", body,
                          content_type="application/octet-stream", headers=headers)  # fmt: skip


def test_chunk_headers_and_keys(client: Any, upload: int) -> None:
    def first_chunk(data: bytes, offset: str, length: str) -> Any:
        return put(client, upload, sha(data), data,
                   **{"Upload-Offset": offset, "Upload-Length": length})  # fmt: skip

    data = good_file()
    cases = [
        (put(client, upload, sha(data), data), (400,)),  # no Upload-Offset
        (put(client, upload, sha(data), data, **{"Upload-Offset": "abc"}), (400,)),
        (put(client, upload, sha(data), data, **{"Upload-Offset": "0"}), (404,)),  # unregistered
        (first_chunk(good_file(), "-1", "9908"), (400, 409)),
        (first_chunk(good_file(), str(10**30), "9908"), (400, 409)),
        (first_chunk(good_file(), "0", "-3"), (400, 404)),
        (first_chunk(good_file(), "0", "x"), (400, 404)),
        (first_chunk(good_file(), "0", str(10**30)), (400, 404)),
        (first_chunk(good_file(), "0", "5"), (400,)),  # the chunk is longer than declared
    ]
    for response, codes in cases:
        assert_json_4xx(response, *codes)
    # Keys that are not SHA-256 hex cannot be registered by a first chunk.
    for bad in ["z" * 64, "A" * 64, "a" * 65, "%00" * 3, "..%2F..%2Fetc"]:
        response = put(client, upload, bad, data,
                       **{"Upload-Offset": "0", "Upload-Length": str(len(data))})  # fmt: skip
        if "%2F" in bad:  # no route matches a key with a slash: Django's own 404 page
            assert response.status_code == 404
        else:
            assert_json_4xx(response, 400, 404)
    # A registered file: an empty chunk is refused; a NUL in the name does not break it.
    other = good_file()
    response = put(
        client,
        upload,
        sha(other),
        other[:100],
        **{"Upload-Offset": "0", "Upload-Length": str(len(other)), "Upload-Name": "%00%ff%fe.dcm"},
    )
    assert response.status_code == 200, response.content[:300]
    assert_json_4xx(put(client, upload, sha(other), b"", **{"Upload-Offset": "100"}), 400)


def test_unknown_and_foreign_ids_are_json_404(
    client: Any, upload: int, login: Any, other_patient: Any
) -> None:
    for method, path in [
        ("GET", "/api/uploads/999999/"),
        ("POST", "/api/uploads/999999/files/"),
        ("POST", "/api/uploads/999999/cancel/"),
        ("PUT", f"/api/uploads/999999/files/{HEX}"),
        ("GET", f"/api/uploads/{10**20}/"),
    ]:
        response = client.generic(method, path, b"{}", content_type="application/json",
                                  headers={"Upload-Offset": "0"})  # fmt: skip
        assert_json_4xx(response, 404)
    stranger = login(other_patient)
    assert_json_4xx(stranger.get(f"/api/uploads/{upload}/"), 404)


def test_wrong_methods_are_405_not_500(client: Any, upload: int) -> None:
    for method, path in [
        ("GET", "/api/uploads/"),
        ("DELETE", f"/api/uploads/{upload}/"),
        ("PUT", f"/api/uploads/{upload}/files/"),
        ("GET", f"/api/uploads/{upload}/cancel/"),
        ("POST", f"/api/uploads/{upload}/files/{HEX}"),
        ("PATCH", "/api/uploads/config/"),
    ]:
        assert client.generic(method, path).status_code == 405, (method, path)


def test_viewer_endpoints_with_bad_parameters(client: Any, imported_study: Any) -> None:
    instance = imported_study.series.first().instances.first()
    base = f"/api/instances/{instance.pk}/slice.png"
    for query in ["frame=-1", "frame=x", "frame=99", "wc=40", "ww=-5&wc=1", "wc=nan&ww=nan",
                  "wc=1e309&ww=1", "size=3", "size=100000", "size=abc", "preset=%00",
                  "preset=../../x", "frame=99999999999999999999999"]:  # fmt: skip
        response = client.get(f"{base}?{query}")
        assert 400 <= response.status_code < 500, (query, response.status_code)
    for path in ["/api/instances/999999/slice.png", "/api/instances/999999/attributes/",
                 "/api/studies/999999/manifest/"]:  # fmt: skip
        assert client.get(path).status_code == 404


def test_json_error_bodies_are_valid_json(client: Any, upload: int) -> None:
    response = client.generic("POST", f"/api/uploads/{upload}/files/", b"\x00\x01garbage",
                              content_type="application/json")  # fmt: skip
    body = assert_json_4xx(response, 400)
    assert json.loads(json.dumps(body)) == body
