"""What attackers send, thrown at every endpoint: each answer is a clear 4xx, never a 500,
and nothing is left behind (no row, no object, no view spent).

Endpoints: the upload form (POST /), the API (POST /api/shares), the open page (GET
/s/<token>), the view (POST /s/<token>), the manage page (GET/POST/DELETE /m/<token>), the
report form (/s/<token>/report) and the admin login.
"""

import io
import os
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from shares.models import Share

from .deployed import gunicorn
from .helpers import jpeg_bytes, stored_keys

pytestmark = pytest.mark.django_db

PIN = "4821"
BOUNDARY = "seen-bad-input-boundary"
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def s3(settings, tmp_path):
    """Photos in a local folder here, instead of the default moto bucket: a file name
    that could escape would do it on a disk, and the table runs hundreds of requests."""
    settings.STORAGES = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "photos"), "base_url": None},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return tmp_path / "photos"


@pytest.fixture(autouse=True)
def no_rate_limits(settings):
    # Hundreds of requests from one address: the limits have their own tests.
    settings.SEEN_RATE_LIMITS = dict.fromkeys(settings.SEEN_RATE_LIMITS)


def multipart(
    parts: list[tuple[str, bytes | str, str | None]], *, boundary: str = BOUNDARY
) -> bytes:
    """A multipart body from (name, value, filename) parts; names and filenames are sent
    as given, so they can hold anything."""
    out = bytearray()
    for name, value, filename in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += disposition.encode("utf-8", "surrogateescape") + b"\r\n"
        if filename is not None:
            out += b"Content-Type: image/jpeg\r\n"
        out += b"\r\n" + (value.encode() if isinstance(value, str) else value) + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
FORM = "application/x-www-form-urlencoded"


@dataclass
class Attack:
    name: str
    method: str
    path: str  # {token} and {manage} are the live share's links
    body: bytes = b""
    content_type: str = FORM
    headers: dict = field(default_factory=dict)

    def __str__(self):
        return self.name


def not_a_photo(filename: str) -> bytes:
    return multipart([("photo", b"<?php system($_GET['c']); ?>", filename), ("views", "1", None)])


UPLOADS = {"upload form": "/", "API": "/api/shares"}
TOKEN_PATHS = {
    "open": ("GET", "/s/{t}"),
    "view": ("POST", "/s/{t}"),
    "report page": ("GET", "/s/{t}/report"),
    "report": ("POST", "/s/{t}/report"),
    "manage page": ("GET", "/m/{t}"),
    "manage POST": ("POST", "/m/{t}"),
    "manage DELETE": ("DELETE", "/m/{t}"),
}
WRONG_TOKENS = {
    "empty-ish": "-",
    "31 characters": "A" * 31,
    "33 characters": "A" * 33,
    "10,000 characters": "A" * 10_000,
    "a forbidden character": "A" * 31 + "!",
    "base64 padding": "A" * 30 + "==",
    "percent-encoded NUL": "A" * 31 + "%00",
    "CR LF": "A" * 30 + "%0d%0a",
    "header injection": "A" * 32 + "%0d%0aSet-Cookie:%20x=1",
    "traversal": "..%2F..%2F..%2Fetc%2Fpasswd",
    "dot-dot": "..",
    "non-ASCII": "A" * 31 + "%C3%A9",
    "non-UTF-8": "%FF%FE" * 16,
    "space": "%20" + "A" * 31,
    "SQL": "A'%20OR%20'1'='1" + "A" * 16,
    "well formed, unknown": "U" * 32,
}

ATTACKS: list[Attack] = []

# Wrong methods.
for method in ("PUT", "PATCH", "DELETE"):
    ATTACKS.append(Attack(f"upload form {method}", method, "/"))
for method in ("GET", "PUT", "PATCH", "DELETE"):
    ATTACKS.append(Attack(f"API {method}", method, "/api/shares"))
for method in ("PUT", "PATCH", "DELETE"):
    ATTACKS.append(Attack(f"view {method}", method, "/s/{token}"))
    ATTACKS.append(Attack(f"report {method}", method, "/s/{token}/report"))
for method in ("PUT", "PATCH"):
    ATTACKS.append(Attack(f"manage {method}", method, "/m/{manage}"))
for method in ("PUT", "PATCH", "DELETE"):
    ATTACKS.append(Attack(f"admin login {method}", method, "/admin/login/"))

for where, path in UPLOADS.items():
    ATTACKS += [
        # Missing fields.
        Attack(f"{where}: empty body", "POST", path),
        Attack(f"{where}: no photo", "POST", path, multipart([("views", "1", None)]), MULTIPART),
        Attack(
            f"{where}: photo as a plain field",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), None)]),
            MULTIPART,
        ),
        Attack(
            f"{where}: empty photo", "POST", path, multipart([("photo", b"", "a.jpg")]), MULTIPART
        ),
        Attack(f"{where}: photo as urlencoded", "POST", path, b"photo=abc&views=1", FORM),
        # Duplicate fields.
        Attack(
            f"{where}: one photo more than a share holds",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), f"{n}.jpg") for n in range(11)]),
            MULTIPART,
        ),
        Attack(
            f"{where}: views twice",
            "POST",
            path,
            multipart(
                [("photo", jpeg_bytes(), "a.jpg"), ("views", "1", None), ("views", "0", None)]
            ),
            MULTIPART,
        ),
        Attack(
            f"{where}: pin twice",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg"), ("pin", "1234", None), ("pin", "", None)]),
            MULTIPART,
        ),
        # Very long fields.
        Attack(
            f"{where}: 1 MB pin",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg"), ("pin", "1" * MB, None)]),
            MULTIPART,
        ),
        Attack(
            f"{where}: 1 MB views",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg"), ("views", "9" * MB, None)]),
            MULTIPART,
        ),
        Attack(
            f"{where}: 3 MB field",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg"), ("expires_in", "1" * 3 * MB, None)]),
            MULTIPART,
        ),
        # Non-UTF-8 bytes.
        Attack(
            f"{where}: non-UTF-8 pin",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg"), ("pin", b"\xff\xfe\xfd\xfc", None)]),
            MULTIPART,
        ),
        Attack(
            f"{where}: non-UTF-8 views",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg"), ("views", b"\xc3\x28", None)]),
            MULTIPART,
        ),
        Attack(
            f"{where}: non-UTF-8 field name",
            "POST",
            path,
            multipart([("ph\udcffoto", jpeg_bytes(), "a.jpg"), ("views", "1", None)]),
            MULTIPART,
        ),
        Attack(
            f"{where}: non-UTF-8 file name, not a photo",
            "POST",
            path,
            not_a_photo("\udcff\udcfe.jpg"),
            MULTIPART,
        ),
        # Path traversal and NUL bytes in the file name, with a payload that is no photo.
        Attack(
            f"{where}: traversal in file name",
            "POST",
            path,
            not_a_photo("../../../../tmp/evil.jpg"),
            MULTIPART,
        ),
        Attack(
            f"{where}: Windows traversal", "POST", path, not_a_photo("..\\..\\evil.jpg"), MULTIPART
        ),
        Attack(
            f"{where}: NUL in file name", "POST", path, not_a_photo("evil.php\x00.jpg"), MULTIPART
        ),
        Attack(f"{where}: absolute file name", "POST", path, not_a_photo("/etc/passwd"), MULTIPART),
        # Header injection in fields.
        Attack(
            f"{where}: CRLF in views",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg"), ("views", "1\r\nX-Injected: yes", None)]),
            MULTIPART,
        ),
        Attack(
            f"{where}: CRLF in pin",
            "POST",
            path,
            multipart(
                [("photo", jpeg_bytes(), "a.jpg"), ("pin", "1234\r\nSet-Cookie: injected=1", None)]
            ),
            MULTIPART,
        ),
        Attack(
            f"{where}: CRLF in prevent_download",
            "POST",
            path,
            multipart(
                [
                    ("photo", jpeg_bytes(), "a.jpg"),
                    ("prevent_download", "1\r\nX-Injected: yes", None),
                ]
            ),
            MULTIPART,
        ),
        Attack(
            f"{where}: CRLF in file name",
            "POST",
            path,
            not_a_photo("a.jpg\r\nX-Injected: yes"),
            MULTIPART,
        ),
        # Many parts.
        Attack(
            f"{where}: 1,000 fields",
            "POST",
            path,
            multipart(
                [("photo", jpeg_bytes(), "a.jpg")] + [(f"f{i}", "x", None) for i in range(1000)]
            ),
            MULTIPART,
        ),
        Attack(
            f"{where}: 1,000 files",
            "POST",
            path,
            multipart([(f"photo{i}", jpeg_bytes(size=(4, 4)), f"{i}.jpg") for i in range(1000)]),
            MULTIPART,
        ),
        Attack(
            f"{where}: 1,000 empty parts",
            "POST",
            path,
            multipart([("", "", None)] * 1000),
            MULTIPART,
        ),
        # Broken envelopes.
        Attack(
            f"{where}: no boundary",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg")]),
            "multipart/form-data",
        ),
        Attack(
            f"{where}: wrong boundary",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg")]),
            "multipart/form-data; boundary=other",
        ),
        Attack(
            f"{where}: non-ASCII boundary",
            "POST",
            path,
            b"--\xff\r\n",
            "multipart/form-data; boundary=\xff",
        ),
        Attack(
            f"{where}: truncated body",
            "POST",
            path,
            multipart([("photo", jpeg_bytes(), "a.jpg")])[:-200],
            MULTIPART,
        ),
        Attack(f"{where}: JSON", "POST", path, b'{"photo": "x"}', "application/json"),
        Attack(
            f"{where}: unknown charset",
            "POST",
            path,
            b"views=1",
            "application/x-www-form-urlencoded; charset=nope-42",
        ),
        # Content-Length that is not a length.
        Attack(
            f"{where}: Content-Length not a number",
            "POST",
            path,
            b"views=1",
            FORM,
            {"CONTENT_LENGTH": "12abc"},
        ),
        Attack(
            f"{where}: Content-Length negative",
            "POST",
            path,
            b"views=1",
            FORM,
            {"CONTENT_LENGTH": "-7"},
        ),
        Attack(
            f"{where}: Content-Length huge",
            "POST",
            path,
            b"views=1",
            FORM,
            {"CONTENT_LENGTH": str(10**18)},
        ),
    ]

ATTACKS += [
    # The view: PIN field abuse.
    Attack("view: 1 MB pin", "POST", "/s/{token}", b"pin=" + b"1" * MB),
    Attack("view: pin twice", "POST", "/s/{token}", f"pin={PIN}&pin=0000".encode()),
    Attack("view: non-UTF-8 pin", "POST", "/s/{token}", b"pin=%FF%FE%FD%FC"),
    Attack("view: raw non-UTF-8 pin", "POST", "/s/{token}", b"pin=\xff\xfe\xfd\xfc"),
    Attack("view: CRLF in pin", "POST", "/s/{token}", b"pin=4821%0d%0aSet-Cookie:%20injected=1"),
    Attack("view: letters for a pin", "POST", "/s/{token}", b"pin=abcd"),
    Attack(
        "view: 1,000 fields",
        "POST",
        "/s/{token}",
        "&".join(f"f{i}=x" for i in range(1000)).encode(),
    ),
    Attack(
        "view: multipart with 1,000 files",
        "POST",
        "/s/{token}",
        multipart([(f"f{i}", b"x", f"{i}.jpg") for i in range(1000)]),
        MULTIPART,
    ),
    Attack("view: broken multipart", "POST", "/s/{token}", b"--nope\r\n\r\n", MULTIPART),
    Attack(
        "view: Content-Length not a number",
        "POST",
        "/s/{token}",
        b"pin=1",
        FORM,
        {"CONTENT_LENGTH": "x"},
    ),
    # Reports.
    Attack("report: no reason", "POST", "/s/{token}/report", b""),
    Attack(
        "report: unknown reason", "POST", "/s/{token}/report", b"reason=%0d%0aX-Injected:%20yes"
    ),
    Attack("report: reason twice", "POST", "/s/{token}/report", b"reason=other&reason=illegal"),
    Attack(
        "report: 1 MB details", "POST", "/s/{token}/report", b"reason=other&details=" + b"x" * MB
    ),
    Attack(
        "report: 1,000 fields",
        "POST",
        "/s/{token}/report",
        "&".join(f"f{i}=x" for i in range(1000)).encode(),
    ),
    # Manage.
    Attack(
        "manage: 1,000 fields",
        "POST",
        "/m/{manage}",
        "&".join(f"f{i}=x" for i in range(1000)).encode(),
    ),
    # The admin login.
    Attack("admin login: empty", "POST", "/admin/login/"),
    Attack(
        "admin login: 1 MB password",
        "POST",
        "/admin/login/",
        b"username=admin&password=" + b"x" * MB,
    ),
    Attack(
        "admin login: non-UTF-8", "POST", "/admin/login/", b"username=\xff\xfe&password=\xc3\x28"
    ),
    Attack(
        "admin login: CRLF",
        "POST",
        "/admin/login/",
        b"username=a%0d%0aSet-Cookie:%20injected=1&password=x",
    ),
    Attack(
        "admin login: fields twice",
        "POST",
        "/admin/login/",
        b"username=a&username=b&password=x&password=y",
    ),
    Attack(
        "admin login: 1,000 fields",
        "POST",
        "/admin/login/",
        "&".join(f"f{i}=x" for i in range(1000)).encode(),
    ),
    Attack(
        "admin login: open redirect",
        "POST",
        "/admin/login/?next=https://evil.example/",
        b"username=a&password=b",
    ),
]


@pytest.fixture
def live_share(make_share):
    return make_share(views=1, pin=PIN)


def send(client, attack: Attack, live_share):
    path = attack.path.format(token=live_share.token, manage=live_share.manage_token)
    return client.generic(
        attack.method, path, attack.body, content_type=attack.content_type, **attack.headers
    )


def assert_nothing_left_behind(live_share, keys_before):
    share = Share.objects.get()
    assert share.pk == live_share.share.pk, "a share was created"
    assert share.views_used == 0, "a view was spent"
    assert share.ended_at is None, "the share ended"
    assert stored_keys() == keys_before, "storage changed"


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_every_endpoint_refuses_bad_input_clearly(client, live_share, attack):
    keys_before = stored_keys()
    response = send(client, attack, live_share)
    assert 400 <= response.status_code < 500, f"{attack}: {response.status_code}"
    body = b"" if response.streaming else response.content
    assert b"Traceback" not in body
    assert "X-Injected" not in response
    assert "injected" not in str(response.cookies)
    assert "evil.example" not in response.get("Location", "")
    # Refusals carry the same protective headers as every page.
    assert response.get("X-Frame-Options") == "DENY"
    assert response.get("Referrer-Policy") == "no-referrer"
    assert "default-src 'self'" in response.get("Content-Security-Policy", "")
    assert_nothing_left_behind(live_share, keys_before)
    if attack.path.startswith("/api/"):
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]


@pytest.mark.parametrize("endpoint", TOKEN_PATHS)
def test_tokens_of_every_wrong_shape_find_nothing(client, live_share, endpoint):
    method, template = TOKEN_PATHS[endpoint]
    # A link of the other kind too: a manage token is no share token, and the other way round.
    other = "{manage}" if template.startswith("/s/") else "{token}"
    tokens = {**WRONG_TOKENS, "the other link's token": other}
    keys_before = stored_keys()
    for shape, token in tokens.items():
        attack = Attack(f"{endpoint}: token {shape}", method, template.format(t=token), b"pin=4821")
        response = send(client, attack, live_share)
        assert response.status_code == 404, f"{attack}: {response.status_code}"
        assert b"Traceback" not in response.content
        assert "X-Injected" not in response and "x" not in response.cookies
        assert_nothing_left_behind(live_share, keys_before)


def test_a_real_photo_under_a_hostile_name_is_stored_under_a_random_key(client, s3, tmp_path):
    # The name is never used: Django drops its directories and NUL, and the key is random.
    for name in ("../../../../tmp/evil.jpg", "evil\x00.jpg", "..\\..\\evil.jpg"):
        response = client.generic(
            "POST",
            "/api/shares",
            multipart([("photo", jpeg_bytes(), name)]),
            content_type=MULTIPART,
        )
        assert response.status_code == 201
    keys = stored_keys()
    assert len(keys) == 3
    for key in keys:
        assert key.startswith("photos/") and "evil" not in key and ".." not in key
    for _folder, _dirs, files in os.walk(tmp_path):
        assert not any("evil" in name for name in files)
    assert not os.path.exists("/tmp/evil.jpg")


# --- over a real socket: what a test client cannot send ----------------------------------


def raw_exchange(url: str, request: bytes, *, half_close: bool = True) -> bytes:
    """Send bytes as they are, then read the whole answer. "Host: @" becomes the server's."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    request = request.replace(b"Host: @\r\n", f"Host: {host}\r\n".encode(), 1)
    with socket.create_connection((host, port), timeout=15) as conn:
        conn.sendall(request)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def raw_post(
    path: str, body: bytes, content_length: int | str, content_type: str = MULTIPART
) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: @\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def raw_get(path: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: @\r\nConnection: close\r\n\r\n"


RAW_ATTACKS = {
    "Content-Length longer than the body": lambda body: raw_post(
        "/api/shares", body, len(body) + 5000
    ),
    "Content-Length shorter than the body": lambda body: raw_post(
        "/api/shares", body, len(body) // 2
    ),
    "Content-Length of zero with a body": lambda body: raw_post("/api/shares", body, 0),
    "Content-Length not a number": lambda body: raw_post("/api/shares", body, "lots"),
    "Content-Length negative": lambda body: raw_post("/api/shares", body, -1),
    "view: Content-Length longer than the body": lambda body: raw_post(
        "/s/" + "U" * 32, b"pin=4821", 5000, FORM
    ),
    "non-UTF-8 bytes in the path": lambda body: raw_get(b"/s/\xff\xfe\xfd"),
    "NUL in the path": lambda body: raw_get(b"/s/AAAA%00AAAA"),
    "raw NUL in the path": lambda body: raw_get(b"/s/AAAA\x00AAAA"),
}


# What only the HTTP server can see: WSGI passes one Content-Length to the app. gunicorn
# refuses these; Django's development server (not for production) does not.
SERVER_ATTACKS = {
    "two different Content-Lengths": lambda body: raw_post(
        "/api/shares", body, f"{len(body)}\r\nContent-Length: 5"
    ),
    "Content-Length and chunked": lambda body: raw_post(
        "/api/shares", body, f"{len(body)}\r\nTransfer-Encoding: chunked"
    ),
    "a space before the colon": lambda body: raw_post("/api/shares", body, len(body)).replace(
        b"Content-Length:", b"Content-Length :"
    ),
}


def upload_body() -> bytes:
    return multipart([("photo", jpeg_bytes(), "a.jpg"), ("views", "1", None)])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", RAW_ATTACKS)
def test_lying_lengths_and_raw_bytes_get_a_4xx_from_django(live_server, name):
    raw = raw_exchange(live_server.url, RAW_ATTACKS[name](upload_body()))
    assert raw, f"{name}: no answer"
    assert 400 <= status_of(raw) < 500, f"{name}: {raw[:200]!r}"
    assert Share.objects.count() == 0
    assert stored_keys() == []


@pytest.mark.django_db(transaction=True)
def test_lying_lengths_and_raw_bytes_get_a_4xx_from_gunicorn_as_deployed(tmp_path):
    with gunicorn(tmp_path) as server:
        for name, make_request in {**RAW_ATTACKS, **SERVER_ATTACKS}.items():
            raw = raw_exchange(server.url, make_request(upload_body()))
            assert raw, f"{name}: no answer"
            assert 400 <= status_of(raw) < 500, f"{name}: {raw[:200]!r}"
        logs = server.logs()
    assert Share.objects.count() == 0
    assert not (tmp_path / "photos").exists() or not any((tmp_path / "photos").rglob("*.*"))
    assert "Internal Server Error" not in logs and "Traceback" not in logs


# --- random multipart bodies ------------------------------------------------------------

FIELD_NAMES = st.sampled_from(
    ["photo", "views", "expires_in", "pin", "prevent_download", "", "x", "photo[]"]
)
VALUES = st.one_of(
    st.sampled_from([b"1", b"0", b"3600", b"4821", b"true", b"", jpeg_bytes(), jpeg_bytes()[:300]]),
    st.binary(max_size=300),
    st.text(max_size=100).map(lambda text: text.encode("utf-8", "surrogatepass")),
)
FILENAMES = st.one_of(
    st.none(), st.text(max_size=40), st.sampled_from(["a.jpg", "../x.jpg", "x\x00.jpg"])
)
PARTS = st.lists(st.tuples(FIELD_NAMES, VALUES, FILENAMES), max_size=8)


@st.composite
def multipart_bodies(draw) -> tuple[bytes, str]:
    parts = draw(PARTS)
    body = bytearray()
    for name, value, filename in parts:
        body += f"--{BOUNDARY}\r\n".encode()
        disposition = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += disposition.encode("utf-8", "surrogatepass") + b"\r\n"
        if filename is not None:
            body += draw(
                st.sampled_from([b"Content-Type: image/jpeg\r\n", b"", b"Content-Type: \xff\r\n"])
            )
        body += b"\r\n" + value + b"\r\n"
    if draw(st.booleans()):
        body += f"--{BOUNDARY}--\r\n".encode()
    cut = draw(st.integers(min_value=0, max_value=len(body)))
    if draw(st.booleans()):
        body = body[:cut]  # truncated anywhere
    return bytes(body), MULTIPART


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=multipart_bodies())
def test_random_multipart_bodies_never_break_the_api(client, request):
    body, content_type = request
    response = client.generic("POST", "/api/shares", body, content_type=content_type)
    assert response.status_code in (201, 400, 413), response.status_code
    assert response["Content-Type"] == "application/json"
    if response.status_code == 201:
        # Random parts can make a valid upload (a real JPEG under "photo"): exactly one share.
        assert Share.objects.count() == 1 and len(stored_keys()) == 1
        Share.objects.all().delete()
        for key in stored_keys():
            default_storage.delete(key)
    else:
        assert response.json()["error"]
        assert Share.objects.count() == 0
        assert stored_keys() == []


def test_a_wrong_method_is_answered_in_words_and_says_what_is_allowed(client, live_share):
    api = client.get("/api/shares")
    assert api.status_code == 405 and api["Allow"] == "POST"
    assert api.json()["error"] == "This address does not accept GET requests. It accepts: POST."
    page = client.put(f"/s/{live_share.token}")
    assert page.status_code == 405 and page["Allow"] == "GET, POST"
    assert "does not accept PUT requests" in page.content.decode()


def test_a_pin_form_cut_short_is_refused_and_costs_no_attempt(make_share):
    # "pin=48213" announced, "pin=4821" arrived: read as complete, a wrong (valid) PIN.
    # The test client's handler: a real WSGIRequest from this environ, through every
    # middleware, without closing the test's database connection afterwards.
    from django.test.client import ClientHandler

    created = make_share(views=3, pin="48213")
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"/s/{created.token}",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "192.0.2.7",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b"pin=4821"),
        "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(b"pin=48213")),
    }
    response = ClientHandler()(environ)
    assert response.status_code == 400
    assert "wrong pin" not in response.content.decode().lower()
    share = Share.objects.get()
    assert (share.pin_failures, share.views_used) == (0, 0)
