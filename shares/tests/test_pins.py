"""PINs are HMACs under a server key, checked in constant time; unknown links cost nothing;
and a client's PIN attempts are counted before they are checked, across processes."""

import threading
from collections import Counter

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.db import connection
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shares import keyed, services
from shares.models import Share

from .helpers import in_threads

pytestmark = pytest.mark.django_db


def test_a_pin_is_stored_as_an_hmac_with_a_salt_of_its_own(make_share, settings):
    first = make_share(pin="4821").share
    second = make_share(pin="4821").share
    scheme, salt, digest = first.pin_hash.split("$")
    assert scheme == "hmac-sha256" and len(digest) == 64
    assert "4821" not in first.pin_hash
    # The same PIN on two shares gives two unrelated digests.
    assert second.pin_hash.split("$")[1] != salt
    assert second.pin_hash.split("$")[2] != digest


def test_the_right_pin_opens_and_a_wrong_one_is_counted(make_share):
    created = make_share(views=1, pin="4821")
    with pytest.raises(services.WrongPin):
        services.share_view(token=created.token, pin="4822")
    assert services.share_view(token=created.token, pin="4821").views_remaining == 0


def test_a_database_copy_without_the_key_does_not_check_a_pin(make_share, settings):
    stored = make_share(pin="4821").share.pin_hash
    assert keyed.pin_matches("4821", stored)
    settings.SECRET_KEY = "another-server-" + "k" * 40
    assert not keyed.pin_matches("4821", stored)


def test_pins_are_checked_under_seen_pin_key_when_it_is_set(make_share, settings):
    settings.SEEN_PIN_KEY = "p" * 40
    stored = make_share(pin="4821").share.pin_hash
    settings.SECRET_KEY = "rotated-" + "s" * 40  # the PIN key does not depend on it
    assert keyed.pin_matches("4821", stored)
    settings.SEEN_PIN_KEY = "q" * 40
    assert not keyed.pin_matches("4821", stored)


def test_pins_hashed_before_a_secret_key_rotation_open_through_the_fallbacks(make_share, settings):
    old_key = settings.SECRET_KEY
    stored = make_share(pin="4821").share.pin_hash
    settings.SECRET_KEY = "rotated-" + "s" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert keyed.pin_matches("4821", stored)
    assert not keyed.pin_matches("0000", stored)


def test_a_share_made_with_the_old_pbkdf2_hash_still_opens_until_it_ends(make_share):
    created = make_share(views=3, pin="4821")
    Share.objects.filter(pk=created.share.pk).update(pin_hash=make_password("4821"))
    with pytest.raises(services.WrongPin):
        services.share_view(token=created.token, pin="0000")
    assert services.share_view(token=created.token, pin="4821").views_remaining == 2


def test_an_unknown_link_does_no_hash_work(client, monkeypatch):
    def no_hashing(*args, **kwargs):
        raise AssertionError("a PIN was hashed for a link that does not exist")

    monkeypatch.setattr(keyed, "pin_matches", no_hashing)
    monkeypatch.setattr(keyed, "check_password", no_hashing)
    response = client.post("/s/" + "A" * 32, {"pin": "1234"})
    assert response.status_code == 404


def test_a_share_without_a_pin_never_touches_the_pin_counter(client, make_share, monkeypatch):
    created = make_share(views=3)

    class Untouched:
        def __init__(self, request):
            pass

        def reserve(self):
            raise AssertionError("counted a PIN attempt for a share without a PIN")

        release = reserve

    monkeypatch.setattr("shares.views.PinAttempts", Untouched)
    assert client.post(f"/s/{created.token}").status_code == 200


@pytest.mark.parametrize("form", [{}, {"pin": ""}, {"pin": "   "}], ids=["none", "empty", "spaces"])
def test_a_missing_pin_is_asked_for_and_not_counted_anywhere(client, make_share, settings, form):
    """A view sent without its PIN is not a guess: 400 "this photo needs its PIN", and
    neither the share's five attempts nor the client's limit move."""
    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "pin_failures": "1/h"}
    created = make_share(views=1, pin="4821")
    for _ in range(settings.SEEN_MAX_PIN_FAILURES + 2):
        scripted = client.post(f"/s/{created.token}", form, headers={"Accept": "application/json"})
        assert scripted.status_code == 400
        assert scripted.json() == {
            "error": "This photo needs its PIN: enter the PIN the sender gave you. "
            "Nothing was used or counted.",
            "code": "pin_required",
            "reason": "pin_required",
        }
    # A browser without the script gets the open page again, with the PIN field.
    page = client.post(f"/s/{created.token}", form)
    assert page.status_code == 400
    html = page.content.decode()
    assert "This photo needs its PIN" in html and 'name="pin"' in html
    share = Share.objects.get()
    assert (share.pin_failures, share.views_used) == (0, 0)
    # The client's one allowed wrong PIN is still there, and so is the share.
    assert client.post(f"/s/{created.token}", {"pin": "0000"}).status_code == 403
    assert client.post(f"/s/{created.token}", {"pin": "4821"}).status_code == 429


def test_a_right_pin_gives_its_attempt_back(client, make_share, settings):
    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "pin_failures": "1/h"}
    for _ in range(3):
        created = make_share(views=1, pin="4821")
        assert client.post(f"/s/{created.token}", {"pin": "4821"}).status_code == 200
    created = make_share(views=1, pin="4821")
    assert client.post(f"/s/{created.token}", {"pin": "0000"}).status_code == 403
    assert client.post(f"/s/{created.token}", {"pin": "4821"}).status_code == 429


@pytest.mark.django_db(transaction=True)
def test_wrong_pins_sent_at_once_are_counted_before_they_are_checked(
    live_server, make_share, settings
):
    """The reviewer's case: 30 wrong PINs at once across 6 shares, against a limit of 10
    per client. Each is counted before its PIN is checked, so exactly 10 are checked."""
    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "pin_failures": "10/h", "views": None}
    shares = [make_share(views=1, pin="4821") for _ in range(6)]
    urls = [f"{live_server.url}/s/{created.token}" for created in shares for _ in range(5)]
    barrier = threading.Barrier(len(urls))
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(url: str) -> None:
        # The live server accepts 5 connections at a time (socketserver's backlog): a
        # refused connect sent nothing, so it is tried again rather than counted.
        session = requests.Session()
        session.mount("http://", HTTPAdapter(max_retries=Retry(connect=5, backoff_factor=0.2)))
        barrier.wait()
        try:
            status = session.post(url, data={"pin": "0000"}, timeout=60).status_code
        except requests.RequestException:
            status = -1
        with lock:
            statuses.append(status)
        connection.close()

    in_threads(guess, len(urls), args=[(url,) for url in urls])

    checked = sum(Share.objects.values_list("pin_failures", flat=True))
    assert checked == 10, Counter(statuses)
    counts = Counter(statuses)
    assert counts[429] == 20 and counts[403] + counts[410] == 10, counts
