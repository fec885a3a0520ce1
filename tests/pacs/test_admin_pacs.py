"""The admin page "Import from PACS": peers with a C-ECHO check, an import started as a
Celery task (run in-process here, as the other task tests do) and its progress; the
task's retry policy (a PACS away is retried, a refusal is not)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse

from pacs.models import PacsImport, PacsPeer
from pacs.tasks import run_pacs_import
from tests.orthanc import free_port
from tests.pacs.conftest import INSTANCES_PER_STUDY, LoadedPacs
from tests.pacs.test_import_from_pacs import ALPHA, BRAVO
from uploads.models import Study

pytestmark = pytest.mark.django_db(transaction=True)  # the task's threads commit


@pytest.fixture
def peer(pacs: LoadedPacs) -> PacsPeer:
    return PacsPeer.objects.create(
        name="Test PACS", ae_title=pacs.server.ae_title, host="127.0.0.1",
        port=pacs.server.dicom_port,
    )  # fmt: skip


def test_echo_button(login: Any, admin_user: Any, peer: PacsPeer) -> None:
    client = login(admin_user)
    wrong = PacsPeer.objects.create(name="Wrong title", ae_title="NOTTHEPACS", host="127.0.0.1",
                                    port=peer.port)  # fmt: skip
    page = client.get(reverse("pacs-imports"))
    assert page.status_code == 200
    assert b'data-testid="pacs-echo"' in page.content and b"not checked yet" in page.content
    answer = client.post(reverse("pacs-echo", args=[peer.pk]), follow=True)
    assert b"answered (C-ECHO)" in answer.content
    peer.refresh_from_db()
    assert peer.echo_ok is True and peer.echo_at is not None
    answer = client.post(reverse("pacs-echo", args=[wrong.pk]), follow=True)
    wrong.refresh_from_db()
    assert wrong.echo_ok is False
    assert "Called AE title not recognised" in wrong.echo_message
    assert b"Called AE title not recognised" in answer.content


def test_add_peer_validates_each_field(login: Any, admin_user: Any) -> None:
    client = login(admin_user)
    bad_peer = {"name": "X", "ae_title": "A" * 17, "host": "no such host!", "port": "0"}
    bad = client.post(reverse("pacs-peer-add"), bad_peer)
    assert bad.status_code == 400
    assert b"at most 16 characters" in bad.content
    assert b"neither an IP address nor a host name" in bad.content
    assert not PacsPeer.objects.exists()
    good_peer = {"name": "Main PACS", "ae_title": "MAINPACS", "host": "10.1.2.3", "port": "104"}
    good = client.post(reverse("pacs-peer-add"), good_peer)
    assert good.status_code == 302
    assert PacsPeer.objects.get().ae_title == "MAINPACS"


def test_the_page_starts_the_import_task_and_shows_progress(
    require_postgres: None, login: Any, admin_user: Any, patient: Any, peer: PacsPeer
) -> None:
    client = login(admin_user)
    assert b'data-testid="pacs-link"' in client.get(reverse("manage")).content
    listed = io.BytesIO(f"patient_id,icd10\n{ALPHA},C34.1\n{BRAVO},J18.9\n".encode())
    listed.name = "cohort.csv"
    started = client.post(reverse("pacs-import-start"), {
        "peer": peer.pk, "since": "2024-01-01", "until": "2024-12-31", "modality": "",
        "owner": patient.email, "patients": listed,
    })  # fmt: skip
    job = PacsImport.objects.get()
    assert started.status_code == 302
    assert started["Location"] == reverse("pacs-import", args=[job.pk])
    # The task ran once the request committed (in-process here).
    job.refresh_from_db()
    assert job.state == PacsImport.State.DONE, job.message
    assert (job.matched, job.selected, job.imported, job.failed) == (4, 3, 3, 0)
    assert job.instances == job.received == 3 * INSTANCES_PER_STUDY
    assert job.requested_by == admin_user
    assert Study.objects.filter(owner=patient).count() == 3
    page = client.get(started["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="pacs-progress"' in html and 'value="100"' in html
    assert 'data-processed="3" data-selected="3"' in html
    assert html.count('data-testid="pacs-import-study"') == 3
    assert "data-refresh-seconds" not in html  # finished: no more refreshing
    # Run again: everything is skipped.
    client.post(reverse("pacs-import-restart", args=[job.pk]))
    job.refresh_from_db()
    assert job.state == PacsImport.State.DONE
    assert (job.imported, job.skipped) == (0, 3)
    assert Study.objects.count() == 3


def test_start_form_errors(login: Any, admin_user: Any, peer: PacsPeer) -> None:
    client = login(admin_user)
    bad_list = io.BytesIO(b"id,icd10\nX,Y\n")
    bad_list.name = "list.csv"
    answer = client.post(reverse("pacs-import-start"), {
        "peer": peer.pk, "since": "2024-02-01", "until": "2024-01-01", "modality": "C T",
        "owner": "nobody@example.org", "patients": bad_list,
    })  # fmt: skip
    assert answer.status_code == 400
    for message in [b"The end date is before the start date", b"not a DICOM modality",
                    b"No active account", b"needs a patient_id column"]:  # fmt: skip
        assert message in answer.content, message
    assert not PacsImport.objects.exists()


def test_a_refusal_fails_at_once_an_absent_pacs_is_retried(
    require_postgres: None, pacs: LoadedPacs, patient: Any, settings: Any
) -> None:
    from portal.celery import app

    # The retries run in-process, one after the other, as a worker would run them later.
    app.conf.task_eager_propagates = False  # (the autouse fixture sets it per test)
    settings.PACS_MAX_RETRIES = 2
    settings.PACS_CONNECT_TIMEOUT = 2
    port = pacs.server.dicom_port
    refused = PacsImport.objects.create(peer_label=f"NOTTHEPACS@127.0.0.1:{port}",
                                        owner=patient, since="2024-01-01")  # fmt: skip
    closed = free_port()
    # Nothing listens: "cannot connect" is worth retrying (the PACS may be restarting).
    absent = PacsImport.objects.create(peer_label=f"PACS@127.0.0.1:{closed}", owner=patient,
                                       since="2024-01-01")  # fmt: skip
    assert run_pacs_import.delay(absent.pk).get() == "failed"
    absent.refresh_from_db()
    assert absent.state == PacsImport.State.FAILED
    assert absent.attempts == 3  # the first run and two retries
    assert "cannot connect" in absent.message
    # The PACS refuses the association (a called AE title it does not know): no retry.
    run_pacs_import.delay(refused.pk)
    refused.refresh_from_db()
    assert refused.state == PacsImport.State.FAILED and refused.attempts == 1
    assert "Called AE title not recognised" in refused.message


def test_a_run_past_its_deadline_hands_over_to_the_next(
    require_postgres: None, patient: Any, peer: PacsPeer, settings: Any
) -> None:
    """With no time left each run imports one study and queues the next run, which
    skips what is there: the import ends with every study, each once."""
    settings.PACS_TIME_LIMIT = 0
    job = PacsImport.objects.create(
        peer=peer, peer_label=str(peer.as_peer()), owner=patient, since="2024-01-01",
        until="2024-12-31",
    )  # fmt: skip
    run_pacs_import.delay(job.pk)  # the next runs are queued on commit: here, at once
    job.refresh_from_db()
    assert job.state == PacsImport.State.DONE, job.message
    assert job.attempts == 4  # one run per study, in range: Alpha x2, Bravo, Charlie
    assert (job.imported, job.skipped, job.failed) == (1, 3, 0)
    assert Study.objects.count() == 4


def test_a_running_import_page_follows_itself_without_a_meta_refresh(
    login: Any, admin_user: Any, patient: Any
) -> None:
    """The page reloads itself while the import runs (common.entry.js, data-refresh-seconds);
    a <meta http-equiv=refresh> was an accessibility fault (axe: meta-refresh, critical)."""
    job = PacsImport.objects.create(peer_label="PACS@127.0.0.1:104", owner=patient,
                                    since="2024-01-01")  # fmt: skip
    html = login(admin_user).get(reverse("pacs-import", args=[job.pk])).content.decode()
    assert not job.finished
    assert 'data-refresh-seconds="3"' in html and 'http-equiv="refresh"' not in html
