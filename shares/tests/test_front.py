"""The production front: Debian's nginx running deploy/nginx.conf.template in front of
gunicorn as deployed (2 workers x 8 threads), and what gunicorn itself believes.

The slow-client tests open 50 slow uploaders and 50 viewers that never read their photo,
from 127.0.0.1, then count the answers to GET /: through nginx every one answers, straight
to gunicorn none does. Every socket has a 10 s timeout, so a starved server shows as a
missing answer, never as a slow pass; every socket and process is closed at the end.
"""

import contextlib
import random
import re
import socket

import pytest
import requests
from PIL import Image

from .deployed import gunicorn, nginx
from .helpers import wait_for
from .photos import jpeg_photo

pytestmark = pytest.mark.django_db(transaction=True)

ATTACKERS = 50  # of each kind
SOCKET_TIMEOUT = 10
PAGE_REQUESTS = 10
BOUNDARY = "seen-front-boundary"
MB = 1024 * 1024

# 100 attackers from one address: the app's per-address rate limits would turn most of them
# away with a 429, which frees the thread. Off, so this measures what holds the threads:
# attackers from many addresses are not rate limited either.
NO_RATE_LIMITS = {
    f"SEEN_RATE_LIMIT_{name}": "off"
    for name in ("UPLOADS", "VIEWS", "PIN_FAILURES", "MANAGE", "REPORTS", "ADMIN_LOGIN")
}


@pytest.fixture(scope="module")
def big_photo() -> bytes:
    """A 12 MP JPEG of noise, just under the 10 MB upload limit: more than the kernel
    buffers on loopback hold (up to 4 MB for each socket that sends, client to nginx to
    gunicorn), so a server that does not take the whole answer itself must wait for the
    viewer."""
    pixels = random.Random(11).randbytes(4000 * 3000 * 3)
    photo = jpeg_photo(image=Image.frombytes("RGB", (4000, 3000), pixels), quality=88)
    assert 9 * MB < len(photo) < 10 * MB
    return photo


def create_share(base: str, photo: bytes, **fields: str) -> tuple[str, str]:
    created = requests.post(
        f"{base}/api/shares",
        files={"photo": ("photo.jpg", photo, "image/jpeg")},
        data={"views": "0", **fields},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    return created.json()["url"].rsplit("/", 1)[1], created.json()["manage_url"].rsplit("/", 1)[1]


def slow_uploader(port: int) -> socket.socket:
    """An upload that announces 4 MB, sends 64 KB of it and stalls."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
    start = (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="photo"; filename="slow.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + b"\xff\xd8"
        + bytes(64 * 1024)
    )
    head = (
        f"POST /api/shares HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {4 * MB}\r\n\r\n"
    ).encode()
    sock.sendall(head + start)
    return sock


def non_reading_viewer(port: int, token: str) -> socket.socket:
    """A view of the photo by a client with a tiny receive window that never reads it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
    sock.settimeout(SOCKET_TIMEOUT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"POST /s/{token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
    )
    return sock


def open_attack(stack: contextlib.ExitStack, port: int, token: str) -> tuple[list, list]:
    uploaders = [stack.enter_context(slow_uploader(port)) for _ in range(ATTACKERS)]
    viewers = [stack.enter_context(non_reading_viewer(port, token)) for _ in range(ATTACKERS)]
    return uploaders, viewers


def upload_page_answers(base: str) -> int:
    """GET / several times in a row; how many answered 200."""
    # A request without an answer within the timeout is a starved server.
    return sum(answers(f"{base}/") for _ in range(PAGE_REQUESTS))


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=SOCKET_TIMEOUT).status_code == 200
    except requests.RequestException:
        return False


def still_waiting(sock: socket.socket) -> bool:
    """Nothing received and not closed: the server is still waiting for this client."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False  # reset
    finally:
        sock.settimeout(SOCKET_TIMEOUT)
    return False


def peek(sock: socket.socket) -> bytes:
    try:
        return sock.recv(12, socket.MSG_PEEK)
    except OSError:
        return b""


def views_sent(logs: str) -> int:
    """The views gunicorn finished writing (its access line comes after the last byte)."""
    return len(re.findall(r'"POST /s/… HTTP/1\.[01]" 200 ', logs))


def uploads_logged(logs: str) -> int:
    return len(re.findall(r'"POST /api/shares HTTP/1\.[01]" ', logs))


def test_nginx_holds_slow_clients_so_gunicorn_keeps_answering(nginx_installed, tmp_path, big_photo):
    # The per-address limit is raised here: the 100 attackers share one address, and what
    # this shows is that buffering alone protects gunicorn from attackers on many
    # addresses. The shipped limit has its own test below.
    with (
        gunicorn(tmp_path, **NO_RATE_LIMITS) as app,
        nginx(tmp_path, upstream_port=app.port, conn_per_address="1000") as front,
    ):
        token, _ = create_share(front.url, big_photo)
        # gunicorn writes its access line just after the answer: wait for the share's.
        assert wait_for(lambda: uploads_logged(app.logs()) == 1)
        with contextlib.ExitStack() as stack:
            uploaders, viewers = open_attack(stack, front.port, token)

            # gunicorn wrote every photo to nginx and was done, though no viewer has read
            # more than its 4 KB window.
            assert wait_for(lambda: views_sent(app.logs()) == ATTACKERS, timeout=60), (
                f"gunicorn finished {views_sent(app.logs())} of {ATTACKERS} views"
            )
            answered = upload_page_answers(front.url)

            # The attack was still on while GET / was answered: nginx is still waiting for
            # every uploader's body and has not passed one to gunicorn; every viewer got
            # its 200 and a few KB of it.
            waiting = sum(still_waiting(sock) for sock in uploaders)
            viewed = sum(peek(sock) == b"HTTP/1.1 200" for sock in viewers)
            uploads = uploads_logged(app.logs())

    assert answered == PAGE_REQUESTS
    assert waiting == ATTACKERS
    assert viewed == ATTACKERS
    assert uploads == 1  # the share's own


def test_the_same_slow_clients_starve_gunicorn_without_nginx(tmp_path, big_photo):
    """The opposite: what the test above would see if nginx did not hold the clients."""
    with gunicorn(tmp_path, **NO_RATE_LIMITS) as app:
        token, _ = create_share(app.url, big_photo)
        with contextlib.ExitStack() as stack:
            open_attack(stack, app.port, token)
            try:
                starved = requests.get(f"{app.url}/", timeout=SOCKET_TIMEOUT).status_code
            except requests.Timeout:
                starved = "no answer within 10 s"
            except requests.RequestException as exc:
                starved = exc.__class__.__name__
        # The attackers gone, their threads come back.
        recovered = wait_for(lambda: answers(f"{app.url}/"), timeout=30)
    assert starved == "no answer within 10 s"
    assert recovered


def get(url: str, **options) -> requests.Response:
    return requests.get(url, timeout=SOCKET_TIMEOUT, allow_redirects=False, **options)


def status(url: str) -> int | None:
    try:
        return get(url).status_code
    except requests.RequestException:
        return None


def test_nginx_refuses_requests_past_the_per_address_limit(nginx_installed, tmp_path):
    # A limit of 3 requests in progress per address: two stalled uploads and GET / fit,
    # a third stalled upload fills it, and GET / from the same address is refused.
    with (
        gunicorn(tmp_path) as app,
        nginx(tmp_path, upstream_port=app.port, conn_per_address="3") as front,
        contextlib.ExitStack() as stack,
    ):
        for _ in range(2):
            stack.enter_context(slow_uploader(front.port))
        within = status(f"{front.url}/")
        third = stack.enter_context(slow_uploader(front.port))
        assert wait_for(lambda: status(f"{front.url}/") == 429)
        refused = get(f"{front.url}/")
        third.close()
        # nginx counts the closed one out when it notices.
        assert wait_for(lambda: status(f"{front.url}/") == 200)
    assert within == 200
    assert refused.status_code == 429
    assert refused.headers["Cache-Control"] == "no-store, private"
    assert refused.headers["Retry-After"] == "10"
    assert "Too many requests at once" in refused.text


def test_nginx_passes_the_address_it_saw_not_the_clients_claim(nginx_installed, tmp_path):
    unknown = "A" * 32  # a well-formed link that does not exist: counted, then 404
    with (
        gunicorn(tmp_path, SEEN_TRUSTED_PROXIES="127.0.0.1", SEEN_RATE_LIMIT_VIEWS="2/m") as app,
        nginx(tmp_path, upstream_port=app.port) as front,
    ):

        def views_claiming(base: str, addresses: list[str]) -> list[int]:
            return [
                requests.post(
                    f"{base}/s/{unknown}", headers={"X-Forwarded-For": address}, timeout=10
                ).status_code
                for address in addresses
            ]

        # Straight to gunicorn from 127.0.0.1, the trusted proxy, each claim is believed:
        # three addresses, three buckets. That is what nginx must not let a client do.
        direct = views_claiming(app.url, ["198.51.100.1", "198.51.100.2", "198.51.100.3"])
        # Through nginx the claims are replaced by the address nginx saw: one bucket.
        fronted = views_claiming(front.url, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
    assert direct == [404, 404, 404]
    assert fronted == [404, 404, 429]


# Headers that belong to the connection or the moment, not to the app's answer.
NOT_THE_APPS = {"date", "server", "connection", "keep-alive", "transfer-encoding", "content-length"}


def app_headers(answer: requests.Response) -> dict[str, str]:
    headers = {name.lower(): value for name, value in answer.headers.items()}
    if "set-cookie" in headers:  # a new CSRF token each time: compare the cookie's name
        headers["set-cookie"] = headers["set-cookie"].split("=", 1)[0]
    return {name: value for name, value in headers.items() if name not in NOT_THE_APPS}


def raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # nothing more is coming: nginx need not linger for it
        answer = b""
        with contextlib.suppress(ConnectionResetError):  # a refusal may end with a reset
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


def test_nginx_keeps_the_apps_headers_and_logs_no_token(nginx_installed, tmp_path):
    pin = "73915046"
    with (
        gunicorn(tmp_path) as app,
        nginx(tmp_path, upstream_port=app.port) as front,
    ):
        token, manage_token = create_share(front.url, jpeg_photo(), views="5", pin=pin)
        static = re.search(r'href="(/static/[^"]+\.css)"', get(f"{app.url}/").text).group(1)

        # Every header the app sets arrives once and unchanged: CSP, frame and referrer
        # policies, no-store on share pages, whitenoise's caching of static files.
        for path in ("/", f"/s/{token}", static, "/robots.txt", f"/s/{'A' * 32}"):
            assert app_headers(get(f"{front.url}{path}")) == app_headers(get(f"{app.url}{path}"))
        viewed = requests.post(f"{front.url}/s/{token}", data={"pin": pin}, timeout=10)
        assert viewed.status_code == 200
        assert "no-store" in viewed.headers["Cache-Control"]
        assert viewed.headers["Seen-Views-Remaining"] == "4"
        assert viewed.content[:2] == b"\xff\xd8"

        answers = [
            get(f"{front.url}/s/{token}?pin={pin}").status_code,
            get(f"{front.url}/%73/{token}").status_code,
            get(f"{front.url}/S/{token}").status_code,
            get(f"{front.url}/m/{manage_token}").status_code,
            get(f"{front.url}/%6d/{manage_token}", headers={"Referer": manage_token}).status_code,
            get(f"{front.url}/admin/").status_code,
        ]
        # Too large for nginx itself: refused from the header, a line nginx would write to
        # its error log with the request in it ("client intended to send too large body").
        refused = raw_exchange(
            front.port,
            f"POST /s/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {20 * MB}\r\n"
            "Connection: close\r\n\r\n".encode(),
        )
        deleted = requests.delete(f"{front.url}/m/{manage_token}", timeout=10).status_code
        # nginx writes a line once the answer is sent: the last one is the DELETE.
        assert wait_for(lambda: '"DELETE ' in front.access_log.read_text())
        logs = front.logs() + (tmp_path / "nginx" / "nginx-output.log").read_text()

    # /S/<token> is left out: whether the app routes it is not the front's business.
    assert answers[:2] + answers[3:] == [200, 200, 200, 200, 302]
    assert refused.startswith(b"HTTP/1.1 413 ")
    assert b"no-store, private" in refused
    assert deleted == 200
    assert token not in logs and manage_token not in logs and pin not in logs
    # The lines are there, with the part of the site and no more.
    assert '"GET /s/..." 200' in logs
    assert '"POST /s/..." 200' in logs
    assert '"POST /s/..." 413' in logs
    assert '"GET /m/..." 200' in logs
    assert '"GET -" ' in logs  # the admin's path is not written either
    assert f'"GET {static}" 200' in logs


def test_gunicorn_believes_no_forwarded_scheme_while_the_settings_name_none(tmp_path):
    # With SEEN_HTTPS on, a request the app takes for plain HTTP is redirected to https://.
    with gunicorn(tmp_path, SEEN_HTTPS="true") as app:
        claims = [
            {"X-Forwarded-Proto": "https"},
            {"X-Forwarded-Ssl": "on"},
            {"X-Forwarded-Protocol": "ssl"},
            # gunicorn used to refuse this pair with a 400 of its own.
            {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off"},
        ]
        answers = [get(f"{app.url}/", headers=claim) for claim in claims]
    assert [answer.status_code for answer in answers] == [301] * len(claims)
    assert {answer.headers["Location"] for answer in answers} == {f"https://127.0.0.1:{app.port}/"}


def test_the_header_the_settings_name_is_believed_and_no_other(tmp_path):
    with gunicorn(tmp_path, SEEN_HTTPS="true", SEEN_PROXY_SSL_HEADER="X-Forwarded-Proto") as app:
        named = get(f"{app.url}/", headers={"X-Forwarded-Proto": "https"}).status_code
        other = get(f"{app.url}/", headers={"X-Forwarded-Ssl": "on"}).status_code
    assert (named, other) == (200, 301)


def test_nginx_tells_the_app_its_own_scheme_whatever_the_client_claims(nginx_installed, tmp_path):
    with (
        gunicorn(tmp_path, SEEN_HTTPS="true", SEEN_PROXY_SSL_HEADER="X-Forwarded-Proto") as app,
        nginx(tmp_path, upstream_port=app.port) as front,
    ):
        # The client reached nginx over plain HTTP: nginx says so, and the app redirects.
        claimed = get(f"{front.url}/", headers={"X-Forwarded-Proto": "https"})
    assert claimed.status_code == 301
    assert claimed.headers["Location"].startswith("https://")
