"""Share-link passcodes under attack (issue 13, point 5): a token holder guessing from many
addresses never locks the real reviewer out, each client is limited on its own, and
passcodes are long enough not to be guessed within those limits.

Failure counters live in the shared cache (Redis, kept between runs): every test uses
addresses of its own (TEST-NET-3) and resets them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from tests.reports.factories import make_study
from tests.sharing.factories import make_link
from uploads.models import ShareLink
from uploads.sharing import links as sharing

pytestmark = pytest.mark.django_db

PASSCODE = "violet-harbour-7"
ATTACKERS = [f"203.0.113.{n}" for n in range(100, 130)]
REVIEWER = "203.0.113.200"
NEIGHBOUR = "203.0.113.201"


@pytest.fixture(autouse=True)
def _clean_counters() -> Iterator[None]:
    addresses = [*ATTACKERS, REVIEWER, NEIGHBOUR]
    for ip in addresses:
        sharing.reset_throttle(ip)
    yield
    for ip in addresses:
        sharing.reset_throttle(ip)


@pytest.fixture
def study(patient: Any) -> Any:
    return make_study(patient, instances=1)


def guess(ip: str, token: str, passcode: str) -> int:
    return int(Client(REMOTE_ADDR=ip).post(f"/s/{token}/", {"passcode": passcode}).status_code)


def test_guesses_from_many_addresses_do_not_lock_the_reviewer_out(
    study: Any, settings: Any
) -> None:
    settings.SHARE_LINK_MAX_FAILURES = 3
    link, token = make_link(study, passcode=PASSCODE)
    for ip in ATTACKERS:  # 30 clients, 3 wrong guesses each: 90 failures on the link
        for n in range(3):
            guess(ip, token, f"wrong-guess-{n}")
    reviewer = Client(REMOTE_ADDR=REVIEWER)
    assert reviewer.get(f"/s/{token}/").status_code == 200  # the passcode form, not 429
    opened = reviewer.post(f"/s/{token}/", {"passcode": PASSCODE})
    assert opened.status_code == 302 and opened.url == f"/studies/{study.pk}/viewer/"
    assert ShareLink.objects.get(pk=link.pk).open_count == 1


def test_each_client_is_limited_on_the_link_even_with_the_right_passcode(
    study: Any, settings: Any
) -> None:
    settings.SHARE_LINK_MAX_FAILURES = 10
    settings.SHARE_PASSCODE_MAX_FAILURES = 4
    _, token = make_link(study, passcode=PASSCODE)
    attacker = ATTACKERS[0]
    assert [guess(attacker, token, f"wrong-guess-{n}") for n in range(4)] == [403] * 4
    assert guess(attacker, token, PASSCODE) == 429  # locked on this link
    # Another link of the same study is another (link, client) pair: up to the per-IP limit.
    _, second = make_link(study, passcode=PASSCODE)
    assert guess(attacker, second, "wrong-guess-x") == 403
    # A neighbour on another address is not affected.
    assert guess(NEIGHBOUR, token, PASSCODE) == 302


def test_per_ip_limit_still_stops_scanning(study: Any, settings: Any) -> None:
    settings.SHARE_LINK_MAX_FAILURES = 3
    _, token = make_link(study, passcode=PASSCODE)
    scanner = Client(REMOTE_ADDR=ATTACKERS[1])
    assert [scanner.get(f"/s/unknown-token-{n}/").status_code for n in range(3)] == [404] * 3
    assert scanner.get(f"/s/{token}/").status_code == 429


def test_a_reviewer_who_opened_the_link_keeps_it_when_the_address_is_locked(
    study: Any, settings: Any
) -> None:
    """Behind one NAT address: the reviewer opened the link; a neighbour then exhausts the
    address's failures. The reviewer's session (its grant) still opens the link."""
    settings.SHARE_LINK_MAX_FAILURES = 3
    _, token = make_link(study, passcode=PASSCODE)
    reviewer = Client(REMOTE_ADDR=REVIEWER)
    assert reviewer.post(f"/s/{token}/", {"passcode": PASSCODE}).status_code == 302
    for n in range(3):
        Client(REMOTE_ADDR=REVIEWER).get(f"/s/unknown-token-{n}/")
    assert Client(REMOTE_ADDR=REVIEWER).get(f"/s/{token}/").status_code == 429
    back = reviewer.get(f"/s/{token}/")
    assert back.status_code == 302 and back.url == f"/studies/{study.pk}/viewer/"


def create(client: Any, study: Any, passcode: str) -> Any:
    return client.post(f"/studies/{study.pk}/share/", {"days": 7, "passcode": passcode})


def test_passcodes_need_eight_characters(login: Any, patient: Any, study: Any) -> None:
    client = login(patient)
    for short in ("1234", "abcdefg", "       "):
        response = create(client, study, short)
        assert response.status_code == 400, short
        assert "at least 8 characters" in response.content.decode()
    assert not ShareLink.objects.exists()
    assert create(client, study, "abcdefgh").status_code == 200
    assert create(client, study, "").status_code == 200  # no passcode at all is allowed
    form = client.get(f"/studies/{study.pk}/").content.decode()
    assert 'minlength="8"' in form and "at least 8 characters" in form
