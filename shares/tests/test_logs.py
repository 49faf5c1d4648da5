"""No link token and no PIN in any log line: gunicorn's access and error logs, Django's
request warnings, runserver's lines, tracebacks."""

import http.client
import io
import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from gunicorn.config import Config

from seen.logredact import RedactingFilter, RedactingLogger, redact

from .deployed import gunicorn
from .helpers import jpeg_bytes, wait_for

TOKEN = "Zq3xY7wVb2Nc8Md1Lk4Jh6Gf5Ds9Pa0T"
MANAGE_TOKEN = "Rt5yU8iO1pA4sD7fG0hJ3kL6zX9cV2bN"


@pytest.mark.parametrize(
    "line, expected",
    [
        (f"GET /s/{TOKEN} HTTP/1.1", "GET /s/… HTTP/1.1"),
        (f"POST /s/{TOKEN}/report HTTP/1.1", "POST /s/…/report HTTP/1.1"),
        (f"https://seen.example.org/m/{MANAGE_TOKEN}?x=1", "https://seen.example.org/m/…?x=1"),
        (f"Not Found: /s/{TOKEN}", "Not Found: /s/…"),
        ("GET /s/abc?pin=4821&x=1 HTTP/1.1", "GET /s/…?pin=…&x=1 HTTP/1.1"),
        ("csrfmiddlewaretoken=x&PIN=73915046", "csrfmiddlewaretoken=x&PIN=…"),
        ("GET /static/css/seen.css HTTP/1.1", "GET /static/css/seen.css HTTP/1.1"),
        ("POST /api/shares HTTP/1.1", "POST /api/shares HTTP/1.1"),
    ],
)
def test_redact_hides_tokens_and_pins_and_nothing_else(line, expected):
    assert redact(line) == expected


@pytest.mark.parametrize(
    "line, expected",
    [
        # Escaped letters: gunicorn decodes them, so these reach the views.
        (f"GET /%73/{TOKEN} HTTP/1.1", "GET /s/… HTTP/1.1"),
        (f"GET /%6d/{MANAGE_TOKEN} HTTP/1.1", "GET /m/… HTTP/1.1"),
        (f"DELETE /%6D/{MANAGE_TOKEN} HTTP/1.1", "DELETE /m/… HTTP/1.1"),
        (f"GET /s%2F{TOKEN} HTTP/1.1", "GET /s/… HTTP/1.1"),
        (f"GET /m%2f{MANAGE_TOKEN} HTTP/1.1", "GET /m/… HTTP/1.1"),
        (f"GET /s/{TOKEN[:5]}%{ord(TOKEN[5]):02X}{TOKEN[6:]} HTTP/1.1", "GET /s/… HTTP/1.1"),
        # Answered 404, but the token in them works.
        (f"Not Found: /S/{TOKEN}", "Not Found: /s/…"),
        (f"GET /%53/{TOKEN} HTTP/1.1", "GET /s/… HTTP/1.1"),
        (f"Not Found: /M/{MANAGE_TOKEN}", "Not Found: /m/…"),
        (f"GET /%4D/{MANAGE_TOKEN} HTTP/1.1", "GET /m/… HTTP/1.1"),
        (f"GET //s/{TOKEN} HTTP/1.1", "GET //s/… HTTP/1.1"),
        (f"GET /%2Fs/{TOKEN} HTTP/1.1", "GET //s/… HTTP/1.1"),
        (f"Not Found: /s//{TOKEN}", "Not Found: /s/…"),
        (f"GET /%2573/{TOKEN} HTTP/1.1", "GET /s/… HTTP/1.1"),
        (f"Not Found: /%73/{TOKEN}", "Not Found: /s/…"),
        (f"GET /%25252573/{TOKEN} HTTP/1.1", "GET /s/… HTTP/1.1"),
        (f"GET http://127.0.0.1:8000/S/{TOKEN} HTTP/1.1", "GET http://127.0.0.1:8000/s/… HTTP/1.1"),
        # In a query string or a header.
        (f"GET /?next=/s/{TOKEN} HTTP/1.1", "GET /?next=/s/… HTTP/1.1"),
        (f"GET /?next=%2Fs%2F{TOKEN}&x=1 HTTP/1.1", "GET /?next=/s/…&x=1 HTTP/1.1"),
        (
            f"GET /?next=https%3A%2F%2Fseen.example.org%2Fm%2F{MANAGE_TOKEN}",
            "GET /?next=https%3A//seen.example.org/m/…",
        ),
        (f"Referer: https://seen.example.org/S/{TOKEN}", "Referer: https://seen.example.org/s/…"),
        # PINs escaped, or with an escaped "=".
        ("GET /s/abc?%70in=4821 HTTP/1.1", "GET /s/…?pin=… HTTP/1.1"),
        ("GET /?pin%3D4821 HTTP/1.1", "GET /?pin=… HTTP/1.1"),
        # Escapes of anything but a path's letters stay escaped: no decoded line break or
        # quote can forge a log line, and other text is left as it was.
        ("GET /a%0A127.0.0.1%20%22GET%20/ HTTP/1.1", "GET /a%0A127.0.0.1%20%22GET%20/ HTTP/1.1"),
        ("GET /%250A HTTP/1.1", "GET /%0A HTTP/1.1"),
        ("GET /admin/shares/share/?status=live&o=-3", "GET /admin/shares/share/?status=live&o=-3"),
        ("GET /sm/x /ms/y /s HTTP/1.1", "GET /sm/x /ms/y /s HTTP/1.1"),
    ],
)
def test_redact_finds_every_spelling_of_a_link(line, expected):
    assert redact(line) == expected


@pytest.fixture
def django_log_output():
    """What the project's console handler writes, in memory."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RedactingFilter) for f in handler.filters)
    ]
    assert handlers, "the root logger has no redacting handler: LOGGING is not in effect"
    buffer = io.StringIO()
    previous = [handler.setStream(buffer) for handler in handlers]
    yield buffer
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)


def test_djangos_request_warnings_name_no_token(django_log_output):
    logging.getLogger("django.request").warning("Not Found: %s", f"/s/{TOKEN}")
    logging.getLogger("django.request").warning(
        "Method Not Allowed (%s): %s", "PUT", f"/m/{MANAGE_TOKEN}"
    )
    text = django_log_output.getvalue()
    assert "Not Found: /s/…" in text and "Method Not Allowed (PUT): /m/…" in text
    assert TOKEN not in text and MANAGE_TOKEN not in text


def test_runserver_request_lines_name_no_token(django_log_output):
    logging.getLogger("django.server").info(
        '"%s" %s %s', f"POST /s/{TOKEN}?pin=4821 HTTP/1.1", 200, 5120
    )
    text = django_log_output.getvalue()
    assert '"POST /s/…?pin=… HTTP/1.1" 200 5120' in text
    assert TOKEN not in text and "4821" not in text


def test_tracebacks_name_no_token(django_log_output):
    try:
        raise RuntimeError(f"could not serve /s/{TOKEN}")
    except RuntimeError:
        logging.getLogger("django.request").exception(
            "Internal Server Error: %s", f"/m/{MANAGE_TOKEN}"
        )
    text = django_log_output.getvalue()
    assert "RuntimeError: could not serve /s/…" in text
    assert "Internal Server Error: /m/…" in text
    assert TOKEN not in text and MANAGE_TOKEN not in text


def test_errors_are_not_mailed_with_the_request_in_them():
    # Django's default "django" logger mails admins a report holding the URL and the
    # POST data (a PIN); the project's logging replaces it with the redacting console.
    handlers = logging.getLogger("django").handlers
    assert any(any(isinstance(f, RedactingFilter) for f in h.filters) for h in handlers)
    assert not any(h.__class__.__name__ == "AdminEmailHandler" for h in handlers)
    assert not logging.getLogger("django").propagate


def test_gunicorns_error_log_names_no_token(tmp_path):
    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    logger = RedactingLogger(cfg)
    try:
        raise ValueError(f"bad /m/{MANAGE_TOKEN}")
    except ValueError:
        logger.exception("Error handling request %s", f"/s/{TOKEN}")
    text = (tmp_path / "error.log").read_text()
    assert "Error handling request /s/…" in text and "ValueError: bad /m/…" in text
    assert TOKEN not in text and MANAGE_TOKEN not in text


def test_an_access_format_naming_headers_prints_them_redacted(tmp_path):
    # Only the atoms a format prints are redacted (in any case, as gunicorn looks them up).
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("access_log_format", '"%(r)s" %({Referer}i)s %({x-next}i)s')
    logger = RedactingLogger(cfg)
    request = SimpleNamespace(
        headers=[("REFERER", f"https://seen.example/s/{TOKEN}"), ("X-NEXT", f"/m/{MANAGE_TOKEN}")]
    )
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/s/{TOKEN}", "SERVER_PROTOCOL": "HTTP/1.1"}
    logger.access(response, request, environ, timedelta(milliseconds=3))
    text = (tmp_path / "access.log").read_text()
    assert '"GET /s/… HTTP/1.1" https://seen.example/s/… /m/…' in text
    assert TOKEN not in text and MANAGE_TOKEN not in text


# --- the app as deployed: gunicorn with seen/gunicorn.py -----------------------------------


@pytest.fixture
def gunicorn_server(transactional_db, tmp_path):
    with gunicorn(tmp_path) as server:
        yield server.url, server.logs


def test_no_token_or_pin_reaches_the_logs_of_the_running_app(gunicorn_server):
    base, logs = gunicorn_server
    pin = "73915046"
    created = requests.post(
        f"{base}/api/shares",
        files={"photo": ("cat.jpg", jpeg_bytes(), "image/jpeg")},
        data={"views": "3", "pin": pin},
        timeout=10,
    )
    assert created.status_code == 201
    share_url, manage_url = created.json()["url"], created.json()["manage_url"]
    token, manage_token = share_url.rsplit("/", 1)[1], manage_url.rsplit("/", 1)[1]
    unknown = "A" * 32

    answers = [
        requests.get(share_url, headers={"Referer": manage_url}, timeout=10).status_code,
        requests.get(f"{share_url}?pin={pin}", timeout=10).status_code,
        requests.post(share_url, data={"pin": "00000000"}, timeout=10).status_code,
        requests.post(share_url, data={"pin": pin}, timeout=10).status_code,
        requests.get(manage_url, timeout=10).status_code,
        requests.get(f"{share_url}/report", timeout=10).status_code,
        requests.post(f"{base}/s/{unknown}", data={"pin": pin}, timeout=10).status_code,
        requests.put(share_url, data={"pin": pin}, timeout=10).status_code,
        requests.get(share_url, headers={"Host": "evil.example"}, timeout=10).status_code,
        requests.delete(manage_url, timeout=10).status_code,
        requests.get(share_url, timeout=10).status_code,
    ]
    assert answers == [200, 200, 403, 200, 200, 200, 404, 405, 400, 200, 410]

    text = every_access_line(logs, 1 + len(answers))
    assert token not in text
    assert manage_token not in text
    assert unknown not in text
    assert pin not in text
    # The lines are there, redacted: the access log and Django's own warnings.
    assert '"GET /s/… HTTP/1.1" 200' in text
    assert '"GET /s/…?pin=… HTTP/1.1" 200' in text
    assert '"DELETE /m/… HTTP/1.1" 200' in text
    assert "Forbidden: /s/…" in text
    assert "Not Found: /s/…" in text
    assert "Method Not Allowed (PUT): /s/…" in text


def every_access_line(logs, requests_sent: int) -> str:
    """The logs once each request has its access line. Each worker writes its line a moment
    after answering, so a later request on another worker can be logged first."""

    def answered() -> int:
        text = logs()
        return text.count('127.0.0.1 "') - text.count('"GET /healthz ')

    assert wait_for(lambda: answered() >= requests_sent), (answered(), requests_sent)
    return logs()


def send(port: int, method: str, target: str, headers: dict | None = None) -> int:
    """One request with its target exactly as given: no client library re-escapes it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, target, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_every_spelling_of_a_link_is_redacted_in_the_running_apps_logs(transactional_db, tmp_path):
    with gunicorn(tmp_path) as server:
        created = requests.post(
            f"{server.url}/api/shares",
            files={"photo": ("cat.jpg", jpeg_bytes(), "image/jpeg")},
            data={"views": "3"},
            timeout=10,
        ).json()
        token = created["url"].rsplit("/", 1)[1]
        manage = created["manage_url"].rsplit("/", 1)[1]
        escaped_letter = f"{token[:5]}%{ord(token[5]):02X}{token[6:]}"
        # What each spelling reaches: gunicorn decodes every escape (%2F too) into the path
        # the router sees, once; the router is case-sensitive and does not fold "//".
        answers = {
            target: send(server.port, "GET", target)
            for target in [
                f"/%73/{token}",
                f"/s%2F{token}",
                f"/s/{escaped_letter}",
                f"/%6d/{manage}",
                f"/%6D/{manage}",
                f"/m%2f{manage}",
                f"http://127.0.0.1:{server.port}/s/{token}",
                f"/S/{token}",
                f"/%53/{token}",
                f"/M/{manage}",
                f"//s/{token}",
                f"/s//{token}",
                f"/%2573/{token}",
                f"/?next=%2Fs%2F{token}",
            ]
        }
        referred = send(server.port, "GET", "/?last", {"Referer": f"{server.url}/S/{token}"})
        assert list(answers.values()) == [200] * 7 + [404] * 6 + [200]
        assert referred == 200

        text = every_access_line(server.logs, 1 + len(answers) + 1)
    assert token not in text and manage not in text
    assert token[6:] not in text  # nor the escaped one
    # The lines are there, in the one spelling a reader can search for.
    assert text.count('"GET /s/… HTTP/1.1" 200') == 3
    assert text.count('"GET /m/… HTTP/1.1" 200') == 3
    assert f'"GET http://127.0.0.1:{server.port}/s/… HTTP/1.1" 200' in text
    assert text.count('"GET /s/… HTTP/1.1" 404') == 4
    assert '"GET //s/… HTTP/1.1" 404' in text
    assert '"GET /?next=/s/… HTTP/1.1" 200' in text
    assert "Not Found: /s/…" in text and "Not Found: /m/…" in text
