"""Invariant 1: a share with N views serves exactly N images, under real concurrency.

`make test` runs this file on PostgreSQL and again on SQLite (marker sqlite_too).
"""

import threading
from collections import Counter

import pytest
import requests

from shares.models import Share

from .helpers import in_threads, stored_keys

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite_too]


@pytest.fixture(autouse=True)
def one_address_many_viewers(settings):
    # Every viewer here comes from 127.0.0.1: per-client limits would answer 429 instead.
    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "views": None, "pin_failures": None}


def race(url: str, viewers: int, data: dict | None = None) -> list[tuple[int, bytes]]:
    barrier = threading.Barrier(viewers)
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def viewer():
        barrier.wait()
        try:
            response = requests.post(url, data=data, timeout=60)
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
