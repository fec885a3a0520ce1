"""Every URL and role: anonymous, patient, radiologist, admin.

The matrix is checked against the URL conf: a new named route without an entry here
fails ``test_every_route_has_an_entry``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.reports.factories import case_of, make_study
from uploads.models import Study, StudyStatus

ROLES = ["anonymous", "patient", "radiologist", "admin"]
LOGIN = "login"  # a redirect to the login page
# name -> (kwargs factory, method, {role: expected})
#   expected: an HTTP status, or LOGIN
MATRIX: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "home": (None, "get", {"anonymous": LOGIN, "patient": 302, "radiologist": 302, "admin": 302}),
    "healthz": (None, "get", dict.fromkeys(ROLES, 200)),
    # the language switcher (a POST back to the page) and the translations of the scripts
    "set-language": (None, "post", dict.fromkeys(ROLES, 302)),
    "javascript-catalog": (None, "get", dict.fromkeys(ROLES, 200)),
    "login": (None, "get", {"anonymous": 200, "patient": 302, "radiologist": 302, "admin": 302}),
    "logout": (None, "post", dict.fromkeys(ROLES, 302)),
    "signup": (None, "get", {"anonymous": 200, "patient": 302, "radiologist": 302, "admin": 302}),
    # OpenID Connect sign-in: off in this matrix (no OIDC_ISSUER), so 404 for everyone;
    # with a provider: tests/test_oidc.py.
    "oidc-login": (None, "get", dict.fromkeys(ROLES, 404)),
    "oidc-callback": (None, "get", dict.fromkeys(ROLES, 404)),
    "verify-email": ("bad_token", "get", dict.fromkeys(ROLES, 400)),
    "accept-invite": ("bad_token", "get", dict.fromkeys(ROLES, 400)),
    # the second factor at login (a pending sign-in only), enrolment, the Security page
    "mfa-verify": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 302, "radiologist": 302, "admin": 302},
    ),
    "mfa-enrol": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 200, "radiologist": 200, "admin": 200},
    ),
    "account-security": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 200, "radiologist": 200, "admin": 200},
    ),
    "mfa-disable": (
        None,
        "post",
        {"anonymous": LOGIN, "patient": 302, "radiologist": 403, "admin": 403},
    ),
    "mfa-recovery-codes": (
        None,
        "post",
        {"anonymous": LOGIN, "patient": 302, "radiologist": 302, "admin": 302},
    ),
    "session-end": (
        None,
        "post",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 404, "admin": 404},
    ),
    "sessions-end-all": (
        None,
        "post",
        {"anonymous": LOGIN, "patient": 302, "radiologist": 302, "admin": 302},
    ),
    "reauth": (None, "get", {"anonymous": LOGIN, "patient": 200, "radiologist": 200, "admin": 200}),
    "password_reset": (None, "get", dict.fromkeys(ROLES, 200)),
    "password_reset_done": (None, "get", dict.fromkeys(ROLES, 200)),
    "password_reset_confirm": ("bad_token", "get", dict.fromkeys(ROLES, 200)),
    "password_reset_complete": (None, "get", dict.fromkeys(ROLES, 200)),
    "studies": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 200, "radiologist": 200, "admin": 200},
    ),
    "worklist": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 200, "admin": 200},
    ),
    "manage": (None, "get", {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200}),
    "users": (None, "get", {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200}),
    "verify-resend": (None, "get", dict.fromkeys(ROLES, 200)),
    "user-resend-invite": (
        "target_user",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    "user-update": (
        "target_user",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    "user-mfa-reset": (
        "target_user",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    "assign-request": (
        "pool_case",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    "audit-log": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200},
    ),
    # the admin Uploads page (uploads/intake/admin_views.py)
    "admin-uploads": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200},
    ),
    "admin-upload": (
        "admin_upload",
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200},
    ),
    "admin-upload-retry": (
        "admin_upload",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    "admin-upload-cancel": (
        "admin_upload",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    "admin-upload-close": (
        "admin_upload",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    # images held for burned-in text (uploads/intake/pixel_review.py)
    "pixel-review": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200},
    ),
    "pixel-review-image": (
        "held_instance",
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200},
    ),
    "pixel-review-confirm": (
        "held_instance",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    "pixel-review-reject": (
        "held_instance",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    # studies, upload API, viewer (uploads/)
    "study": (
        "study",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "review-request": (  # the target's request covering the pool study
        "pool_case",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "upload": (None, "get", {"anonymous": LOGIN, "patient": 200, "radiologist": 403, "admin": 200}),
    "viewer": (
        "study",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "api-upload-config": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 200, "radiologist": 403, "admin": 200},
    ),
    "api-deid-profile": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 200, "radiologist": 403, "admin": 200},
    ),
    "api-upload-open": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 200, "radiologist": 403, "admin": 200},
    ),
    # the OCR preview of a flagged image (uploaders only; an empty post is refused)
    "api-text-boxes": (
        None,
        "post",
        {"anonymous": LOGIN, "patient": 400, "radiologist": 403, "admin": 400},
    ),
    "api-upload-create": (
        None,
        "post",
        {"anonymous": LOGIN, "patient": 400, "radiologist": 403, "admin": 400},
    ),
    "api-upload-status": (
        "upload",
        "get",
        {"anonymous": LOGIN, "patient": 200, "radiologist": 403, "admin": 404},
    ),
    "api-upload-register": (
        "upload",
        "post",
        {"anonymous": LOGIN, "patient": 400, "radiologist": 403, "admin": 404},
    ),
    "api-upload-batch": (
        "upload",
        "post",
        {"anonymous": LOGIN, "patient": 400, "radiologist": 403, "admin": 404},
    ),
    "api-upload-chunk": (
        "upload_file",
        "put",
        {"anonymous": LOGIN, "patient": 400, "radiologist": 403, "admin": 404},
    ),
    "api-upload-finish": (
        "upload",
        "post",
        {"anonymous": LOGIN, "patient": 200, "radiologist": 403, "admin": 404},
    ),
    "api-upload-cancel": (
        "upload",
        "post",
        {"anonymous": LOGIN, "patient": 200, "radiologist": 403, "admin": 404},
    ),
    "api-study-manifest": (
        "study",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "api-instance-slice": (
        "pool_instance",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "api-instance-attributes": (
        "pool_instance",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "api-instance-rt": (
        "pool_instance",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    # layouts, priors and multiplanar reformat (uploads/viewer/mpr_views.py); the series
    # has one image: past the permission check, MPR says in words it is not a volume
    "viewer-layout": (
        "study",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "api-study-priors": (
        "study",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "api-series-geometry": (
        "pool_series",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "api-series-mpr": (
        "pool_series",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 422, "admin": 422},
    ),
    "api-series-mpr-plane": (
        "pool_series_plane",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 422, "admin": 422},
    ),
    # region statistics and pixel probe: whoever sees the image; no query is a 400
    "api-instance-roi": (
        "pool_instance",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 400, "admin": 400},
    ),
    "api-instance-probe": (
        "pool_instance",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 400, "admin": 400},
    ),
    "api-instance-geometry": (
        "pool_instance",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    # the signed-in user's mouse convention; no body is a 400
    "api-viewer-mouse": (
        None,
        "post",
        {"anonymous": LOGIN, "patient": 400, "radiologist": 400, "admin": 400},
    ),
    # reporting (reports/urls.py); kinds made by tests/reports/factories.route_kwargs
    "request-edit": (
        "pool_case",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 403, "admin": 403},
    ),
    "request-cancel": (
        "own_request",
        "post",
        {"anonymous": LOGIN, "patient": 302, "radiologist": 404, "admin": 403},
    ),
    "request-claim": (
        "pool_case",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 302, "admin": 403},
    ),
    "report-editor": (
        "assigned",
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 200, "admin": 403},
    ),
    "reading": (
        "assigned",
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 200, "admin": 403},
    ),
    "report-annotations": (
        "assigned",
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 200, "admin": 403},
    ),
    "report-autosave": (
        "assigned",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 400, "admin": 403},
    ),
    "report-key-image": (
        "assigned",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 400, "admin": 403},
    ),
    "report-sign": (
        "assigned",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 400, "admin": 403},
    ),
    "report-addendum": (
        "reported",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 400, "admin": 403},
    ),
    "report-preview": (
        "assigned",
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 200, "admin": 403},
    ),
    "report-view": ("reported", "get", {"anonymous": LOGIN, **dict.fromkeys(ROLES[1:], 200)}),
    "report-pdf": ("reported", "get", {"anonymous": LOGIN, **dict.fromkeys(ROLES[1:], 200)}),
    "report-key-image-png": (
        "reported_key_image",
        "get",
        {"anonymous": LOGIN, **dict.fromkeys(ROLES[1:], 200)},
    ),
    "notifications": (None, "get", {"anonymous": LOGIN, **dict.fromkeys(ROLES[1:], 200)}),
    "notification-read": (
        "notification",
        "post",
        {"anonymous": LOGIN, "patient": 302, "radiologist": 404, "admin": 404},
    ),
    "deliveries": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200},
    ),
    "delivery-resend": (
        "delivery",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    # share links and exports (uploads/sharing/urls.py); kinds made by tests/sharing/factories.py
    "share-create": (
        "study",
        "post",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 403, "admin": 200},
    ),
    "share-revoke": (
        "share_link",
        "post",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 403, "admin": 302},
    ),
    # A valid link opens the viewer for anyone (a grant in the session); see tests/sharing.
    "share-open": ("share_token", "get", dict.fromkeys(ROLES, 302)),
    # Only the holder of a grant for that link (tests/sharing): nobody here.
    "share-verdict": ("share_link", "post", dict.fromkeys(ROLES, 404)),
    "export-list": (
        "study",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 200, "admin": 200},
    ),
    "export-create": (
        "study",
        "post",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 400, "admin": 400},
    ),
    # Only who asked for the export (here the admin) downloads it.
    "export-download": (
        "export",
        "get",
        {"anonymous": LOGIN, "patient": 404, "radiologist": 404, "admin": 200},
    ),
    # personal API tokens (portal/apitokens); "api_token": a token of the patient
    "api-tokens": (None, "get", {"anonymous": LOGIN, **dict.fromkeys(ROLES[1:], 200)}),
    "api-token-revoke": (
        "api_token",
        "post",
        {"anonymous": LOGIN, "patient": 302, "radiologist": 404, "admin": 404},
    ),
    # DICOMweb (dicomweb/urls.py): no session and no token is 401; a search with no match
    # 204; a UID nobody here reaches 404 (tests/dicomweb has the per-role answers)
    **{
        name: (None, "get", {"anonymous": 401, **dict.fromkeys(ROLES[1:], 204)})
        for name in ("dicomweb-studies", "dicomweb-all-series", "dicomweb-all-instances")
    },
    **{
        name: (kind, "get", {"anonymous": 401, **dict.fromkeys(ROLES[1:], 404)})
        for name, kind in [
            ("dicomweb-study", "dw_study"),
            ("dicomweb-study-metadata", "dw_study"),
            ("dicomweb-study-series", "dw_study"),
            ("dicomweb-study-instances", "dw_study"),
            ("dicomweb-series", "dw_series"),
            ("dicomweb-series-metadata", "dw_series"),
            ("dicomweb-series-instances", "dw_series"),
            ("dicomweb-instance", "dw_instance"),
            ("dicomweb-instance-metadata", "dw_instance"),
            ("dicomweb-rendered", "dw_instance"),
            ("dicomweb-frames", "dw_frames"),
            ("dicomweb-frame-rendered", "dw_frames"),
        ]
    },
    # the admin page "Import from PACS" (pacs/urls.py)
    "pacs-imports": (
        None,
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200},
    ),
    "pacs-import-start": (  # an empty form: 400 with the fields' errors
        None,
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 400},
    ),
    "pacs-import": (
        "pacs_import",
        "get",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 200},
    ),
    "pacs-import-restart": (
        "pacs_import",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
    "pacs-peer-add": (  # an empty form: 400 with the fields' errors
        None,
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 400},
    ),
    "pacs-echo": (  # a peer on a closed local port: the check fails fast, then redirects
        "pacs_peer",
        "post",
        {"anonymous": LOGIN, "patient": 403, "radiologist": 403, "admin": 302},
    ),
}
# Django's own admin site has its own permission system (is_staff), tested separately.
EXEMPT_NAMESPACES = {"admin"}


def named_routes() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any]) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.namespace not in EXEMPT_NAMESPACES:
                    walk(entry.url_patterns)
            elif isinstance(entry, URLPattern):
                assert entry.name, f"unnamed route {entry.pattern}"
                names.add(entry.name)

    walk(get_resolver().url_patterns)
    return names


def test_every_route_has_an_entry() -> None:
    assert named_routes() - MATRIX.keys() == set()
    assert MATRIX.keys() - named_routes() == set()


def kwargs_for(kind: str | None, users: dict[str, Any]) -> dict[str, Any]:
    if kind is None:
        return {}
    if kind == "bad_token":
        return {"uidb64": "MQ", "token": "abc-def"}
    if kind == "target_user":
        return {"pk": users["target"].pk}
    if kind == "study":
        return {"pk": users["study"].pk}
    if kind == "pool_case":  # the target's request covering the study, in the pool
        return {"pk": case_of(users["study"]).pk}
    if kind == "admin_upload":  # the patient's upload, with a file waiting
        from uploads.models import FileStatus, Upload, UploadFile

        upload = Upload.objects.create(owner=users["patient"], expected_files=2)
        UploadFile.objects.create(upload=upload, key="b" * 64, size=10, status=FileStatus.RECEIVED)
        return {"pk": upload.pk}
    if kind in {"upload", "upload_file"}:
        from uploads.models import Upload, UploadFile

        upload = Upload.objects.create(owner=users["patient"], expected_files=2)
        if kind == "upload":
            return {"upload_id": upload.pk}
        file = UploadFile.objects.create(upload=upload, key="a" * 64, size=10)
        return {"upload_id": upload.pk, "key": file.key}
    if kind.startswith("dw_"):  # UIDs of a study nobody has
        uids = {"study": "1.2.3.4", "series": "1.2.3.4.5", "sop": "1.2.3.4.5.6", "frames": "1"}
        names = {"dw_study": 1, "dw_series": 2, "dw_instance": 3, "dw_frames": 4}[kind]
        return dict(list(uids.items())[:names])
    if kind == "api_token":
        from portal.apitokens.tokens import issue

        return {"pk": issue(users["patient"], name="matrix")[0].pk}
    if kind in {"pacs_import", "pacs_peer"}:
        from pacs.models import PacsImport, PacsPeer
        from tests.orthanc import free_port

        if kind == "pacs_peer":
            peer = PacsPeer.objects.create(name="p", ae_title="PACS", host="127.0.0.1",
                                           port=free_port())  # fmt: skip
            return {"pk": peer.pk}
        job = PacsImport.objects.create(peer_label="PACS@127.0.0.1:104",
                                        owner=users["patient"], since="2024-01-01")  # fmt: skip
        return {"pk": job.pk}
    if kind == "held_instance":  # an image held for an admin's check of burned-in text
        from tests.reports.factories import add_instance

        held = add_instance(users["study"], needs_pixel_review=True)
        held.pixel_hold = "identifying text is still readable after cleaning"
        held.save(update_fields=["pixel_hold"])
        return {"pk": held.pk}
    if kind == "pool_instance":
        from tests.reports.factories import add_instance

        return {"pk": add_instance(users["study"]).pk}
    if kind in {"pool_series", "pool_series_plane"}:
        from tests.reports.factories import add_instance

        series = {"pk": add_instance(users["study"]).series_id}
        return series if kind == "pool_series" else {**series, "plane": "coronal"}
    if kind in {"share_link", "share_token", "export"}:
        from tests.sharing.factories import route_kwargs as sharing_kwargs

        return sharing_kwargs(kind, users)
    from tests.reports.factories import route_kwargs

    return route_kwargs(kind, users)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_route_permissions(
    name: str, client: Any, patient: Any, radiologist: Any, admin_user: Any, other_patient: Any
) -> None:
    kind, method, expected = MATRIX[name]
    study = make_study(other_patient)  # with a request about it in the pool (case_of)
    users = {"patient": patient, "radiologist": radiologist, "admin": admin_user,
             "target": other_patient, "study": study}  # fmt: skip
    url = reverse(name, kwargs=kwargs_for(kind, users))
    for role in ROLES:
        client.logout()
        if role != "anonymous":
            client.force_login(users[role])
        data = {"role": "patient", "is_active": "on"} if name == "user-update" else {}
        response = getattr(client, method)(url, data)
        want = expected[role]
        if want == LOGIN:
            assert response.status_code == 302, (role, response.status_code)
            assert response.url.startswith("/login/"), (role, response.url)
        else:
            assert response.status_code == want, (name, role, response.status_code)


@pytest.mark.django_db
def test_django_admin_only_for_staff(
    login: Any, patient: Any, radiologist: Any, admin_user: Any
) -> None:
    for user, status in [(patient, 302), (radiologist, 302), (admin_user, 200)]:
        client = login(user)
        response = client.get("/admin/accounts/user/")
        assert response.status_code == status, user.role
        client.logout()
    client = login(admin_user)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    # Staff rights follow the role: a demoted admin loses them.
    admin_user.role = "radiologist"
    admin_user.save()
    assert not admin_user.is_staff and not admin_user.is_superuser


@pytest.mark.django_db
def test_study_visibility_per_role(
    login: Any,
    patient: Any,
    other_patient: Any,
    radiologist: Any,
    other_radiologist: Any,
    admin_user: Any,
) -> None:
    from uploads.permissions import can_view_study, visible_studies

    own = make_study(patient, status=StudyStatus.PROCESSING)
    pool = make_study(other_patient, patient_pseudonym="P1")
    theirs = make_study(
        other_patient, status="in_review", assigned_to=other_radiologist, patient_pseudonym="P2"
    )
    mine = make_study(
        other_patient, status="in_review", assigned_to=radiologist, patient_pseudonym="P3"
    )
    # A study with no request about it is no radiologist's to see.
    Study.objects.create(owner=other_patient, status=StudyStatus.READY)
    assert set(visible_studies(patient)) == {own}
    assert set(visible_studies(other_patient)) >= {pool, theirs, mine}
    assert set(visible_studies(radiologist)) == {pool, mine}
    assert set(visible_studies(admin_user)) >= {own, pool, theirs, mine}
    assert not can_view_study(radiologist, own)  # processing, not in the pool
    patient.is_active = False
    assert list(visible_studies(patient)) == []
    # The lists in the pages follow the same rule.
    page = login(radiologist).get("/studies/").content.decode()
    assert f'data-study-id="{pool.pk}"' in page and f'data-study-id="{mine.pk}"' in page
    assert f'data-study-id="{theirs.pk}"' not in page and f'data-study-id="{own.pk}"' not in page
    worklist = login(radiologist).get("/worklist/").content.decode()
    assert worklist.count('data-testid="worklist-row"') == 2
    assert f'data-request-id="{case_of(pool).pk}"' in worklist
    assert f'data-request-id="{case_of(mine).pk}"' in worklist


@pytest.mark.django_db
def test_admin_assigns_request_and_it_is_audited(
    login: Any, admin_user: Any, radiologist: Any, patient: Any
) -> None:
    from portal.audit.models import AuditEvent

    case = case_of(make_study(patient))
    client = login(admin_user)
    assert f'data-request-id="{case.pk}"' in client.get("/manage/").content.decode()
    response = client.post(f"/manage/requests/{case.pk}/assign/", {"radiologist": radiologist.pk})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assigned_to == radiologist
    event = AuditEvent.objects.get(action="request.assigned")
    assert event.object_id == str(case.pk) and event.actor == admin_user.email
    assert event.ip == "127.0.0.1"
    # A patient cannot be assigned as reader.
    response = client.post(f"/manage/requests/{case.pk}/assign/", {"radiologist": patient.pk})
    assert response.status_code == 404
    log = client.get("/manage/audit/?action=request.").content.decode()
    assert log.count('data-testid="audit-row"') == 1
    # The overview's recent activity says it in words, not as the event's code.
    overview = client.get("/manage/").content.decode()
    assert '<span data-testid="recent-event" data-action="request.assigned">Assigned a review' in (
        overview
    )
    assert f"Review request {case.pk}" in overview
