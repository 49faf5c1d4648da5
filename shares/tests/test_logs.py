"""No link token and no PIN in any log line: gunicorn's access and error logs, Django's
request warnings, runserver's lines, tracebacks."""

import io
import logging
import time

import pytest
import requests
from gunicorn.config import Config

from seen.logredact import RedactingFilter, RedactingLogger, redact

from .conftest import jpeg_bytes
from .deployed import gunicorn
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
    for handler, stream in zip(handlers, previous):
        handler.setStream(stream)


def test_djangos_request_warnings_name_no_token(django_log_output):
    logging.getLogger("django.request").warning("Not Found: %s", f"/s/{TOKEN}")
    logging.getLogger("django.request").warning("Method Not Allowed (%s): %s", "PUT", f"/m/{MANAGE_TOKEN}")
    text = django_log_output.getvalue()
    assert "Not Found: /s/…" in text and "Method Not Allowed (PUT): /m/…" in text
    assert TOKEN not in text and MANAGE_TOKEN not in text


def test_runserver_request_lines_name_no_token(django_log_output):
    logging.getLogger("django.server").info('"%s" %s %s', f"POST /s/{TOKEN}?pin=4821 HTTP/1.1", 200, 5120)
    text = django_log_output.getvalue()
    assert '"POST /s/…?pin=… HTTP/1.1" 200 5120' in text
    assert TOKEN not in text and "4821" not in text


def test_tracebacks_name_no_token(django_log_output):
    try:
        raise RuntimeError(f"could not serve /s/{TOKEN}")
    except RuntimeError:
        logging.getLogger("django.request").exception("Internal Server Error: %s", f"/m/{MANAGE_TOKEN}")
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

    # The workers write their last lines a moment after answering: wait for the final 410.
    deadline = time.monotonic() + 10
    while '" 410 ' not in (text := logs()) and time.monotonic() < deadline:
        time.sleep(0.05)
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
