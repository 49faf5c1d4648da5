"""Rate limits per client address, counted in Redis (or the database) so that every
process sees the same counts; 429 with Retry-After when a client is over."""

import io
import ipaddress
import threading

import pytest
import redis
import time_machine
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from shares.models import Share
from shares.ratelimits import client_ip
from shares.responses import LIMIT_REASONS

from .helpers import TEST_REDIS_URL, in_threads, jpeg_bytes, stored_keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    """Set some limits for a test; the others keep their defaults."""

    def set_limits(**rates):
        settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, **rates}

    return set_limits


def photo():
    return SimpleUploadedFile("cat.jpg", jpeg_bytes(), content_type="image/jpeg")


def test_api_uploads_over_the_limit_get_429_json_with_retry_after(client, limits):
    limits(uploads="2/h")
    for _ in range(2):
        assert client.post("/api/shares", {"photo": photo()}).status_code == 201
    response = client.post("/api/shares", {"photo": photo()})
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"].startswith("Too many uploads from your address.")
    assert response.json()["limit"] == "uploads"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert response.json()["retry_after"] == retry_after
    assert Share.objects.count() == 2
    assert len(stored_keys()) == 2


def test_the_upload_form_and_the_api_share_one_count_and_browsers_get_a_page(client, limits):
    limits(uploads="2/h")
    assert client.post("/", {"photo": photo()}).status_code == 201
    assert client.post("/api/shares", {"photo": photo()}).status_code == 201
    response = client.post("/", {"photo": photo()})
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "<title>Too many requests" in html and "Slow down a little" in html
    assert "Too many uploads from your address. Please wait" in html
    assert int(response["Retry-After"]) >= 1
    assert Share.objects.count() == 2


def test_refused_uploads_count_too_but_pages_and_wrong_methods_do_not(client, limits):
    limits(uploads="2/h")
    for _ in range(5):
        assert client.get("/").status_code == 200
        assert client.get("/api/shares").status_code == 405
    assert client.post("/api/shares", {}).status_code == 400
    assert client.post("/api/shares", {"photo": photo()}).status_code == 201
    assert client.post("/api/shares", {"photo": photo()}).status_code == 429


def test_the_limit_is_per_client_address(client, limits):
    limits(uploads="1/h")
    assert (
        client.post("/api/shares", {"photo": photo()}, REMOTE_ADDR="198.51.100.1").status_code
        == 201
    )
    assert (
        client.post("/api/shares", {"photo": photo()}, REMOTE_ADDR="198.51.100.1").status_code
        == 429
    )
    assert (
        client.post("/api/shares", {"photo": photo()}, REMOTE_ADDR="198.51.100.2").status_code
        == 201
    )


def test_the_window_ends_and_the_client_may_upload_again(client, limits):
    limits(uploads="1/h")
    with time_machine.travel("2026-11-24 10:00:00Z", tick=False) as traveller:
        assert client.post("/api/shares", {"photo": photo()}).status_code == 201
        limited = client.post("/api/shares", {"photo": photo()})
        assert limited.status_code == 429
        traveller.shift(int(limited["Retry-After"]) + 1)
        assert client.post("/api/shares", {"photo": photo()}).status_code == 201


def test_view_posts_over_the_limit_get_429_and_spend_nothing(client, limits, make_share):
    limits(views="2/m")
    created = make_share(views=10)
    assert client.post(f"/s/{created.token}").status_code == 200
    assert client.post(f"/s/{created.token}").status_code == 200
    limited = client.post(f"/s/{created.token}")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert Share.objects.get().views_used == 2
    # Opening the page (a GET) is not a view and is not limited.
    assert client.get(f"/s/{created.token}").status_code == 200


def test_a_script_asking_for_json_gets_json_when_limited(client, limits, make_share):
    limits(views="1/m")
    created = make_share(views=10)
    client.post(f"/s/{created.token}")
    limited = client.post(f"/s/{created.token}", HTTP_ACCEPT="application/json")
    assert limited.status_code == 429
    assert limited.json()["retry_after"] == int(limited["Retry-After"])


def test_wrong_pins_on_many_shares_count_against_the_client(client, limits, make_share):
    limits(pin_failures="3/h")
    shares = [make_share(views=1, pin="4821") for _ in range(3)]
    for created in shares:
        response = client.post(f"/s/{created.token}", {"pin": "0000"})
        assert response.status_code == 403
    # Now even the right PIN is refused from this address, and no view is spent.
    fresh = make_share(views=1, pin="4821")
    limited = client.post(f"/s/{fresh.token}", {"pin": "4821"})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert Share.objects.get(pk=fresh.share.pk).views_used == 0
    # Another address is not affected, and right PINs never counted.
    other = client.post(f"/s/{fresh.token}", {"pin": "4821"}, REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 200


def test_right_pins_do_not_count_as_failures(client, limits, make_share):
    limits(pin_failures="1/h")
    for _ in range(3):
        created = make_share(views=1, pin="4821")
        assert client.post(f"/s/{created.token}", {"pin": "4821"}).status_code == 200


def test_manage_actions_are_limited(client, limits, make_share):
    limits(manage="2/m")
    links = [make_share() for _ in range(3)]
    assert client.delete(f"/m/{links[0].manage_token}").status_code == 200
    assert client.post(f"/m/{links[1].manage_token}").status_code == 302
    limited = client.delete(f"/m/{links[2].manage_token}")
    assert limited.status_code == 429
    assert Share.objects.get(pk=links[2].share.pk).ended_at is None
    # The status page is a GET: still there.
    assert client.get(f"/m/{links[2].manage_token}").status_code == 200


def test_reports_are_limited(client, limits, make_share):
    limits(reports="1/h")
    created = make_share(views=10)
    first = client.post(f"/s/{created.token}/report", {"reason": "other"})
    assert first.status_code == 201
    limited = client.post(f"/s/{created.token}/report", {"reason": "other"})
    assert limited.status_code == 429
    assert Share.objects.get().reports.count() == 1


def test_admin_login_attempts_are_limited(client, limits):
    limits(admin_login="3/15m")
    User.objects.create_superuser("boss", password="right-horse-battery-staple")
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "boss", "password": "wrong"})
        assert response.status_code == 400
        assert "Please enter the correct username and password" in response.content.decode()
    limited = client.post(
        "/admin/login/", {"username": "boss", "password": "right-horse-battery-staple"}
    )
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 15 * 60
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/login/").status_code == 200
    # Another address may still log in.
    ok = client.post(
        "/admin/login/",
        {"username": "boss", "password": "right-horse-battery-staple"},
        REMOTE_ADDR="198.51.100.20",
    )
    assert ok.status_code == 302


def test_counts_live_in_redis_where_every_process_sees_them(client, limits, rate_limit_cache):
    limits(uploads="5/h")
    client.post("/api/shares", {"photo": photo()})
    server = redis.Redis.from_url(TEST_REDIS_URL)
    keys = list(server.scan_iter(match=f"{rate_limit_cache}:*"))
    assert len(keys) == 1
    assert int(server.get(keys[0])) == 1


def test_unreachable_counters_let_requests_through_and_say_so(client, settings, limits, caplog):
    limits(uploads="1/h")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert client.post("/api/shares", {"photo": photo()}).status_code == 201
    assert client.post("/api/shares", {"photo": photo()}).status_code == 201
    assert "the counters failed" in caplog.text


def test_a_limit_set_to_off_is_not_counted(client, limits):
    limits(uploads=None)
    for _ in range(3):
        assert client.post("/api/shares", {"photo": photo()}).status_code == 201


# --- the client's address ---------------------------------------------------------------


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/api/shares", **extra)


@pytest.mark.parametrize(
    "trusted, remote, forwarded, expected",
    [
        # No proxies trusted: X-Forwarded-For is whatever the client wrote.
        (0, "198.51.100.7", "1.2.3.4", "198.51.100.7"),
        (0, "198.51.100.7", None, "198.51.100.7"),
        # One proxy: the entry it appended (the last); the client's own entries are ignored.
        (1, "10.0.0.2", "203.0.113.5", "203.0.113.5"),
        (1, "10.0.0.2", "1.2.3.4, 203.0.113.5", "203.0.113.5"),
        (1, "10.0.0.2", None, "10.0.0.2"),
        (1, "10.0.0.2", "203.0.113.5:51234", "203.0.113.5"),
        (1, "10.0.0.2", "not-an-address", "10.0.0.2"),
        # Two proxies (CDN, then load balancer): second from the right.
        (2, "10.0.0.2", "1.2.3.4, 203.0.113.5, 192.0.2.10", "203.0.113.5"),
        (2, "10.0.0.2", "203.0.113.5", "203.0.113.5"),
        # A list of proxies: believed only when the connection comes from one of them.
        ("10.0.0.0/8", "198.51.100.7", "1.2.3.4", "198.51.100.7"),
        ("10.0.0.0/8", "10.0.0.2", "1.2.3.4, 203.0.113.5", "203.0.113.5"),
        ("10.0.0.0/8", "10.0.0.2", "1.2.3.4, 203.0.113.5, 10.1.1.1", "203.0.113.5"),
        ("10.0.0.0/8", "10.0.0.2", "10.3.3.3, 10.1.1.1", "10.3.3.3"),
        ("10.0.0.0/8", "10.0.0.2", "garbage, 10.1.1.1", "10.1.1.1"),
        (
            "10.0.0.0/8,2001:db8::/32",
            "2001:db8::1",
            "[2001:db8:1::5]:443, 2001:db8::9",
            "2001:db8:1::5",
        ),
        # IPv4 clients of a dual-stack socket are their IPv4 address.
        (0, "::ffff:203.0.113.7", None, "203.0.113.7"),
        (1, "10.0.0.2", "::ffff:203.0.113.5", "203.0.113.5"),
        ("10.0.0.0/8", "::ffff:10.0.0.2", "203.0.113.5", "203.0.113.5"),
    ],
)
def test_the_client_address_trusts_only_configured_proxies(
    settings, trusted, remote, forwarded, expected
):
    if isinstance(trusted, str):
        trusted = [ipaddress.ip_network(part) for part in trusted.split(",")]
    settings.SEEN_TRUSTED_PROXIES = trusted
    assert client_ip(request_from(remote, forwarded)) == expected


def test_a_forged_forwarded_for_changes_nothing_without_trusted_proxies(client, limits, settings):
    settings.SEEN_TRUSTED_PROXIES = 0
    limits(uploads="1/h")
    assert (
        client.post("/api/shares", {"photo": photo()}, HTTP_X_FORWARDED_FOR="1.1.1.1").status_code
        == 201
    )
    forged = client.post("/api/shares", {"photo": photo()}, HTTP_X_FORWARDED_FOR="2.2.2.2")
    assert forged.status_code == 429


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_count(client, limits, settings):
    settings.SEEN_TRUSTED_PROXIES = 1
    limits(uploads="1/h")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    assert (
        client.post(
            "/api/shares", {"photo": photo()}, HTTP_X_FORWARDED_FOR="203.0.113.1", **proxy
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/shares", {"photo": photo()}, HTTP_X_FORWARDED_FOR="203.0.113.2", **proxy
        ).status_code
        == 201
    )
    # The same client prepending a made-up address is still itself.
    again = client.post(
        "/api/shares", {"photo": photo()}, HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.1", **proxy
    )
    assert again.status_code == 429


def test_ipv6_clients_are_counted_per_64_network(client, limits):
    limits(uploads="1/h")
    assert (
        client.post("/api/shares", {"photo": photo()}, REMOTE_ADDR="2001:db8:1:2::1").status_code
        == 201
    )
    # Anyone holds a whole /64: rotating within it does not buy more uploads.
    assert (
        client.post("/api/shares", {"photo": photo()}, REMOTE_ADDR="2001:db8:1:2::ffff").status_code
        == 429
    )


def test_ipv4_clients_of_a_dual_stack_socket_are_counted_one_by_one(client, limits):
    """::ffff:203.0.113.7 and ::ffff:198.51.100.9 are two IPv4 clients, not two members
    of one IPv6 /64 (which would put every IPv4 client in a single bucket)."""
    limits(uploads="1/h")
    first = {"REMOTE_ADDR": "::ffff:203.0.113.7"}
    assert client.post("/api/shares", {"photo": photo()}, **first).status_code == 201
    other = {"REMOTE_ADDR": "::ffff:198.51.100.9"}
    assert client.post("/api/shares", {"photo": photo()}, **other).status_code == 201
    # The same IPv4 client, arriving without the mapping, is the same client.
    again = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.post("/api/shares", {"photo": photo()}, **again).status_code == 429


def test_counting_proxies_is_warned_about_because_any_peer_could_forge(settings):
    from django.core.management import call_command as run_command
    from django.core.management.base import SystemCheckError

    settings.SEEN_TRUSTED_PROXIES = 1
    with pytest.raises(SystemCheckError, match="seen.W001"):
        run_command("check", fail_level="WARNING")
    settings.SEEN_TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
    run_command("check", fail_level="WARNING")


# --- one round trip per limit --------------------------------------------------------------


def redis_commands_during(action) -> list[str]:
    """The commands Redis receives (MONITOR) for this test's counters while `action` runs,
    in order. Other test runs may share the server: their keys have other prefixes."""
    from django.conf import settings

    prefix = settings.SEEN_RATE_LIMIT_PREFIX + ":"
    monitor_client = redis.Redis.from_url(TEST_REDIS_URL)
    seen: list[str] = []
    ready, done = threading.Event(), threading.Event()

    def watch():
        with monitor_client.monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                command = event["command"]
                if command.split()[0].strip('"').upper() in {"SELECT", "HELLO", "CLIENT"}:
                    continue  # a new connection's handshake, not a count
                if "seen-done-marker" in command:
                    done.set()
                    return
                if prefix in command:
                    seen.append(command)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(5)
    action()
    redis.Redis.from_url(TEST_REDIS_URL).get("seen-done-marker")
    done.wait(5)
    watcher.join(5)
    return seen


def test_a_view_costs_one_redis_operation_per_limit(client, limits, make_share):
    limits(views="30/m", pin_failures="10/h")
    created = make_share(views=0)
    commands = redis_commands_during(lambda: client.post(f"/s/{created.token}"))
    names = [command.split()[0].strip('"').upper() for command in commands]
    # The PIN-guessing limit: one read. The view limit: INCRBY and EXPIRE NX, one pipeline.
    assert names == ["GET", "INCRBY", "EXPIRE"], commands
    assert commands[2].endswith(" NX")


def test_a_pin_view_reserves_and_gives_back_one_attempt(client, limits, make_share):
    limits(views="30/m", pin_failures="10/h")
    created = make_share(views=0, pin="4821")
    commands = redis_commands_during(lambda: client.post(f"/s/{created.token}", {"pin": "4821"}))
    names = [command.split()[0].strip('"').upper() for command in commands]
    # The read, the view count, then the attempt reserved and given back (right PIN).
    assert names == ["GET", "INCRBY", "EXPIRE", "INCRBY", "EXPIRE", "INCRBY", "EXPIRE"], commands


# --- the database, used when there is no Redis -----------------------------------------------


@pytest.fixture
def database_counters(settings):
    settings.REDIS_URL = ""


def test_the_database_limits_requests_too(client, limits, database_counters):
    limits(uploads="1/h")
    assert client.post("/api/shares", {"photo": photo()}).status_code == 201
    assert client.post("/api/shares", {"photo": photo()}).status_code == 429


def test_a_view_costs_one_query_per_limit_in_the_database(
    client, limits, make_share, database_counters
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    limits(views="30/m", pin_failures="10/h")
    created = make_share(views=0)
    with CaptureQueriesContext(connection) as queries:
        assert client.post(f"/s/{created.token}").status_code == 200
    counter_queries = [q["sql"] for q in queries.captured_queries if "ratecounter" in q["sql"]]
    # The PIN-guessing limit: one read. The view limit: one upsert.
    assert len(counter_queries) == 2, counter_queries
    assert counter_queries[0].startswith("SELECT")
    assert counter_queries[1].startswith("INSERT") and "ON CONFLICT" in counter_queries[1]


@pytest.mark.sqlite_too
def test_a_database_counter_expires_with_its_window_and_purge_removes_it(database_counters):
    from shares import counters
    from shares.models import RateCounter

    with time_machine.travel("2026-11-24 10:00:00Z", tick=False) as traveller:
        assert counters.add("uploads:1", 1, ttl=3600) == 1
        traveller.shift(600)
        assert counters.add("uploads:1", 1, ttl=3600) == 2
        assert counters.get("uploads:1") == 2
        traveller.shift(3001)
        assert counters.get("uploads:1") == 0
        call_command("purge", verbosity=0)
        assert not RateCounter.objects.exists()


@pytest.mark.sqlite_too
@pytest.mark.django_db(transaction=True)
def test_database_counters_count_exactly_under_concurrency(database_counters):
    from django.db import connection

    from shares import counters

    threads, per_thread = 8, 10

    def count():
        for _ in range(per_thread):
            counters.add("views:1", 1, ttl=60)
        connection.close()

    in_threads(count, threads)
    assert counters.get("views:1") == threads * per_thread


# --- what a 429 says, and starting again ------------------------------------------------------


def counted_request(client, limit: str, make_share):
    """A request that counts against `limit` (asking for JSON), as a function that sends
    it again each time it is called."""
    accept = {"HTTP_ACCEPT": "application/json"}
    if limit == "uploads":
        return lambda: client.post("/api/shares", {"photo": photo()})
    if limit == "views":
        token = make_share(views=0).token
        return lambda: client.post(f"/s/{token}", **accept)
    if limit == "pin_failures":
        token = make_share(views=3, pin="4821").token
        return lambda: client.post(f"/s/{token}", {"pin": "0000"}, **accept)
    if limit == "manage":
        return lambda: client.delete(f"/m/{make_share().manage_token}")
    if limit == "reports":
        token = make_share(views=3).token
        return lambda: client.post(f"/s/{token}/report", {"reason": "other"}, **accept)
    assert limit == "admin_login"
    return lambda: client.post("/admin/login/", {"username": "x", "password": "y"}, **accept)


@pytest.mark.parametrize("limit", list(LIMIT_REASONS))
def test_a_429_says_which_limit_was_reached(client, limits, make_share, limit):
    limits(**{limit: "1/h"})
    send = counted_request(client, limit, make_share)
    send()
    limited = send()
    assert limited.status_code == 429
    body = limited.json()
    assert body["limit"] == limit
    assert body["error"].startswith(LIMIT_REASONS[limit] + " Please wait ")
    assert body["retry_after"] == int(limited["Retry-After"])


def test_every_limit_has_words_for_its_429():
    from django.conf import settings

    assert set(LIMIT_REASONS) == set(settings.SEEN_RATE_LIMITS)


def test_after_wrong_pins_the_page_says_every_link_from_the_address_is_refused(
    client, limits, make_share
):
    limits(pin_failures="1/h")
    guarded = make_share(views=3, pin="4821")
    assert client.post(f"/s/{guarded.token}", {"pin": "0000"}).status_code == 403
    # A share without a PIN is refused too: that is the protection, and the page says so.
    refused = client.post(f"/s/{make_share(views=3).token}")
    assert refused.status_code == 429
    html = refused.content.decode()
    assert "Too many wrong PINs from your address" in html
    assert "on any link, with or without a PIN" in html


def test_a_pin_refused_after_counting_names_the_pin_limit_too(
    client, limits, make_share, monkeypatch
):
    """Two wrong PINs in flight at once: the second is refused when it reserves its
    attempt (PinGuessing), past the decorator that only reads the count."""
    from shares import counters

    limits(pin_failures="1/h")
    created = make_share(views=3, pin="4821")
    assert client.post(f"/s/{created.token}", {"pin": "0000"}).status_code == 403
    monkeypatch.setattr(counters, "get", lambda key: 0)  # the read saw the count before
    limited = client.post(f"/s/{created.token}", {"pin": "0000"}, HTTP_ACCEPT="application/json")
    assert limited.status_code == 429
    assert limited.json()["limit"] == "pin_failures"
    assert Share.objects.get(pk=created.share.pk).pin_failures == 1


@pytest.fixture(params=["redis", "database"])
def counted_in(request, settings):
    """Run a test with the counters in Redis, then in the database table."""
    if request.param == "database":
        settings.REDIS_URL = ""
    return request.param


@pytest.mark.sqlite_too  # what `make run` counts in
def test_ratelimits_reset_lets_one_locked_out_address_in_again(
    client, limits, make_share, counted_in
):
    limits(pin_failures="1/h")
    guarded = make_share(views=3, pin="4821")
    open_share = make_share(views=0)
    for address in ("198.51.100.7", "198.51.100.8"):
        client.post(f"/s/{guarded.token}", {"pin": "0000"}, REMOTE_ADDR=address)
        assert client.post(f"/s/{open_share.token}", REMOTE_ADDR=address).status_code == 429

    out = io.StringIO()
    call_command("ratelimits_reset", "--address", "198.51.100.7", stdout=out)
    where = "Redis" if counted_in == "redis" else "the database"
    # Its wrong PIN and its views: two counters.
    assert out.getvalue() == (
        f"Deleted 2 rate-limit counters in {where} (every limit, address 198.51.100.7).\n"
    )
    assert client.post(f"/s/{open_share.token}", REMOTE_ADDR="198.51.100.7").status_code == 200
    assert client.post(f"/s/{open_share.token}", REMOTE_ADDR="198.51.100.8").status_code == 429

    # The share's own count is not a rate limit: its four attempts left stay four.
    assert Share.objects.get(pk=guarded.share.pk).pin_failures == 2

    call_command("ratelimits_reset", stdout=out)
    assert client.post(f"/s/{open_share.token}", REMOTE_ADDR="198.51.100.8").status_code == 200


def test_ratelimits_reset_can_forget_one_limit_only(client, limits, make_share, counted_in):
    limits(uploads="1/h", pin_failures="1/h")
    assert client.post("/api/shares", {"photo": photo()}).status_code == 201
    guarded = make_share(views=3, pin="4821")
    client.post(f"/s/{guarded.token}", {"pin": "0000"})
    call_command("ratelimits_reset", "--limit", "pin_failures", stdout=io.StringIO())
    assert client.post(f"/s/{guarded.token}", {"pin": "4821"}).status_code == 200
    assert client.post("/api/shares", {"photo": photo()}).status_code == 429


def test_ratelimits_reset_of_an_ipv6_address_resets_its_64(client, limits, counted_in):
    limits(uploads="1/h")

    def upload_from(address: str) -> int:
        return client.post("/api/shares", {"photo": photo()}, REMOTE_ADDR=address).status_code

    upload_from("2001:db8:1:2::10")
    assert upload_from("2001:db8:1:2::11") == 429
    call_command("ratelimits_reset", "--address", "2001:db8:1:2::99", stdout=io.StringIO())
    assert upload_from("2001:db8:1:2::12") == 201


def test_ratelimits_reset_leaves_other_prefixes_alone_and_refuses_garbage(client, limits, settings):
    """Redis may hold another Seen's counters (another SEEN_RATE_LIMIT_PREFIX), and a
    prefix may contain glob characters: only this prefix's keys go."""
    other = redis.Redis.from_url(TEST_REDIS_URL)
    settings.SEEN_RATE_LIMIT_PREFIX += "[*]"
    try:
        limits(uploads="1/h")
        client.post("/api/shares", {"photo": photo()})
        neighbour = settings.SEEN_RATE_LIMIT_PREFIX.replace("[*]", "x") + ":rl:uploads:1:127.0.0.1"
        other.set(neighbour, 5)
        out = io.StringIO()
        call_command("ratelimits_reset", stdout=out)
        assert out.getvalue().startswith("Deleted 1 rate-limit counter in Redis")
        assert other.get(neighbour) == b"5"
    finally:
        leftovers = other.keys(settings.SEEN_RATE_LIMIT_PREFIX.replace("[*]", "*") + ":*")
        if leftovers:
            other.delete(*leftovers)
    with pytest.raises(CommandError, match="not an IP address"):
        call_command("ratelimits_reset", "--address", "localhost")
