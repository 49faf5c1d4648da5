"""Invariant 1: a share with N views serves exactly N images, under real concurrency.

`make test` runs this file on PostgreSQL and again on SQLite (marker sqlite_too).
"""

import json
import threading
from collections import Counter

import pytest
import requests

from shares.models import Share

from .helpers import in_threads, jpeg_bytes, stored_keys

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite_too]


@pytest.fixture(autouse=True)
def one_address_many_viewers(settings):
    # Every viewer here comes from 127.0.0.1: per-client limits would answer 429 instead.
    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "views": None, "pin_failures": None}


def race(
    url: str, viewers: int, data: dict | None = None, headers: dict | None = None
) -> list[tuple[int, bytes]]:
    barrier = threading.Barrier(viewers)
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def viewer():
        barrier.wait()
        try:
            response = requests.post(url, data=data, headers=headers, timeout=60)
            outcome = (response.status_code, response.content)
        except requests.RequestException as exc:  # counted, never hidden
            outcome = (-1, repr(exc).encode())
        with lock:
            results.append(outcome)

    in_threads(viewer, viewers)
    return results


def test_it_serves_exactly_n_views_under_concurrency(live_server, make_share):
    created = make_share(views=3)
    results = race(f"{live_server.url}/s/{created.token}", viewers=50)

    statuses = Counter(status for status, _ in results)
    images = [body for status, body in results if status == 200]
    assert statuses == {200: 3, 410: 47}, statuses
    assert all(body[:2] == b"\xff\xd8" for body in images)
    share = Share.objects.get()
    assert share.views_used == 3
    assert share.views.count() == 3
    assert stored_keys() == []


def test_concurrent_wrong_pins_end_the_share_after_exactly_five(live_server, make_share):
    created = make_share(views=10, pin="2468")
    results = race(f"{live_server.url}/s/{created.token}", viewers=20, data={"pin": "0000"})
    statuses = Counter(status for status, _ in results)
    assert statuses[403] == 4 and statuses[410] == 16, statuses
    share = Share.objects.get()
    assert share.pin_failures == 5
    assert share.views_used == 0


def test_an_album_serves_exactly_n_views_and_each_photo_once_per_view(live_server, make_share):
    """50 viewers of a 3-view, 4-photo album: 3 views, each gets all 4 photos exactly once
    (however many fetch them at once), and no address works a second time or late."""
    from datetime import timedelta

    from django.utils import timezone

    from shares.models import ShareView

    photos = [jpeg_bytes(color=(60 * n, 20, 20)) for n in range(4)]
    created = make_share(views=3, photos=photos)
    url = f"{live_server.url}/s/{created.token}"
    results = race(url, viewers=50, data={}, headers={"Accept": "application/json"})

    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 3, 410: 47}, statuses
    listings = [json.loads(body) for status, body in results if status == 200]
    addresses = [photo["url"] for listing in listings for photo in listing["photos"]]
    assert len(set(addresses)) == 12

    # Every address fetched by 5 at once: exactly one of them gets the photo.
    fetched: dict[str, list[tuple[int, bytes]]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(addresses) * 5)

    def fetcher(address):
        barrier.wait()
        try:
            response = requests.get(address, timeout=60)
            outcome = (response.status_code, response.content)
        except requests.RequestException as exc:
            outcome = (-1, repr(exc).encode())
        with lock:
            fetched.setdefault(address, []).append(outcome)

    in_threads(fetcher, len(addresses) * 5, args=[(a,) for a in addresses for _ in range(5)])
    for listing in listings:
        bodies = []
        for photo in listing["photos"]:
            outcomes = fetched[photo["url"]]
            assert Counter(status for status, _ in outcomes) == {200: 1, 410: 4}
            bodies += [body for status, body in outcomes if status == 200]
        assert [len(body) for body in bodies] == [p["size"] for p in listing["photos"]]
        assert all(body[:2] == b"\xff\xd8" for body in bodies)
    # Each view got four different photos, the same four for every view.
    assert len({body for outcomes in fetched.values() for s, body in outcomes if s == 200}) == 4

    assert all(requests.get(address, timeout=10).status_code == 410 for address in addresses)
    share = Share.objects.get()
    assert share.views_used == 3 and share.streams_open == 0
    assert stored_keys() == []  # the last view's photos, all delivered
    assert not ShareView.objects.filter(window_open=True).exists()

    # And a window that closes before its photos are fetched lets none of them through.
    late = make_share(views=3, photos=photos)
    listing = requests.post(
        f"{live_server.url}/s/{late.token}", headers={"Accept": "application/json"}, timeout=10
    ).json()
    ShareView.objects.filter(share_id=late.share.pk).update(
        fetch_until=timezone.now() - timedelta(seconds=1)
    )
    assert [requests.get(p["url"], timeout=10).status_code for p in listing["photos"]] == [410] * 4
