"""Production settings: `manage.py check --deploy` has nothing to say, HTTPS is enforced
(HSTS, secure cookies, redirect) without locking out the load balancer's /healthz, and
a fresh machine gets the rate-limit table from `migrate`."""

import json
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "REDIS_URL"}
        and not key.startswith("SEEN_")
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, "SEEN_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def production(**overrides: str) -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "seen.example.org",
        "SEEN_HTTPS": "true",
        "SEEN_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "DATABASE_URL": "postgres://seen:secret@db.internal:5432/seen",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "SEEN_MODERATION_KEY": secrets.token_urlsafe(48),
        **overrides,
    }


@pytest.mark.parametrize("cache", ["redis", "database"])
def test_the_deploy_check_finds_nothing_in_production_settings(tmp_path, cache):
    env = production()
    if cache == "database":
        del env["REDIS_URL"]
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_deploy_check_asks_for_a_moderation_key_of_its_own(tmp_path):
    env = production()
    del env["SEEN_MODERATION_KEY"]
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **env)
    assert result.returncode != 0 and "seen.W002" in result.stdout + result.stderr


def test_the_deploy_check_would_complain_without_https(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        **production(SEEN_HTTPS="false"),
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "ssl_redirect": s.SECURE_SSL_REDIRECT,
    "hsts": s.SECURE_HSTS_SECONDS,
    "hsts_subdomains": s.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "hsts_preload": s.SECURE_HSTS_PRELOAD,
    "session_secure": s.SESSION_COOKIE_SECURE,
    "csrf_secure": s.CSRF_COOKIE_SECURE,
    "session_httponly": s.SESSION_COOKIE_HTTPONLY,
    "csrf_httponly": s.CSRF_COOKIE_HTTPONLY,
    "proxy_ssl_header": s.SECURE_PROXY_SSL_HEADER,
    "counters": "redis" if s.REDIS_URL else "database",
    "admin": s.SEEN_ADMIN_PATH,
    "trusted_proxies": (
        [str(p) for p in s.SEEN_TRUSTED_PROXIES]
        if isinstance(s.SEEN_TRUSTED_PROXIES, list)
        else s.SEEN_TRUSTED_PROXIES
    ),
    "uploads": s.SEEN_RATE_LIMITS["uploads"],
}))
"""


def settings_with(tmp_path: Path, **env: str) -> dict:
    result = run(["-c", SHOW_SETTINGS], tmp_path, DJANGO_SETTINGS_MODULE="seen.settings", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_seen_https_turns_on_hsts_secure_cookies_and_the_redirect(tmp_path):
    values = settings_with(tmp_path, **production())
    assert values["ssl_redirect"] is True
    assert values["hsts"] == 31536000 and values["hsts_subdomains"] and values["hsts_preload"]
    assert values["session_secure"] and values["csrf_secure"]
    assert values["session_httponly"] and values["csrf_httponly"]
    assert values["proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["counters"] == "redis"


def test_without_configuration_nothing_forces_https_or_trusts_a_proxy_header(tmp_path):
    values = settings_with(tmp_path, DEBUG="true")
    assert values["ssl_redirect"] is False and values["hsts"] == 0
    assert not values["session_secure"] and not values["csrf_secure"]
    assert values["proxy_ssl_header"] is None
    # No Redis: the counters go to the database, never to a per-process memory cache.
    assert values["counters"] == "database"
    assert values["admin"] == "admin/"
    assert values["trusted_proxies"] == 0
    assert values["uploads"] == "20/h"


def test_the_security_settings_are_read_from_the_environment(tmp_path):
    values = settings_with(
        tmp_path,
        DEBUG="true",
        SEEN_ADMIN_PATH="/staff-4f9c",
        SEEN_TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.1",
        SEEN_RATE_LIMIT_UPLOADS="5/10m",
    )
    assert values["admin"] == "staff-4f9c/"
    assert values["trusted_proxies"] == ["10.0.0.0/8", "192.0.2.1/32"]
    assert values["uploads"] == "5/10m"


SHOW_SESSIONS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({"engine": s.SESSION_ENGINE, "age": s.SESSION_COOKIE_AGE}))
"""


def test_admin_sessions_are_hashed_and_last_hours_not_weeks(tmp_path):
    def sessions(**env: str) -> dict:
        result = run(["-c", SHOW_SESSIONS], tmp_path, DJANGO_SETTINGS_MODULE="seen.settings", **env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    # Django's default is two weeks; a stolen cookie should be worth less than that.
    assert sessions(**production()) == {"engine": "seen.sessions", "age": 4 * 3600}
    assert sessions(**production(SEEN_ADMIN_SESSION_AGE="900"))["age"] == 900


@pytest.mark.parametrize(
    "name, value",
    [
        ("SEEN_HTTPS", "sometimes"),
        ("SEEN_ADMIN_SESSION_AGE", "4h"),
        ("SEEN_ADMIN_SESSION_AGE", "10"),
        ("SEEN_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
        ("SEEN_TRUSTED_PROXIES", "the load balancer"),
        ("SEEN_RATE_LIMIT_UPLOADS", "20 per hour"),
        ("SEEN_RATE_LIMIT_VIEWS", "0/m"),
        ("REDIS_URL", "127.0.0.1:6379"),
        ("SEEN_HSTS_SECONDS", "a year"),
        ("LOG_LEVEL", "loud"),
        # An admin path that would clash with the app's own pages, or escape.
        ("SEEN_ADMIN_PATH", "s/"),
        ("SEEN_ADMIN_PATH", "api"),
        ("SEEN_ADMIN_PATH", "../admin"),
        ("SEEN_ADMIN_PATH", "admin panel/"),
        ("SEEN_ADMIN_PATH", "/"),
    ],
)
def test_a_malformed_security_setting_stops_start_up_naming_it(tmp_path, name, value):
    result = run(
        ["-c", SHOW_SETTINGS],
        tmp_path,
        DJANGO_SETTINGS_MODULE="seen.settings",
        DEBUG="true",
        **{name: value},
    )
    assert result.returncode != 0
    assert name in result.stderr


def test_a_fresh_machine_gets_the_rate_limit_table_from_migrate(tmp_path):
    result = run(["manage.py", "migrate", "--noinput"], tmp_path, DEBUG="true")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "seen.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "shares_ratecounter" in tables
    # Running it again (every deploy does) is harmless.
    assert run(["manage.py", "migrate", "--noinput"], tmp_path, DEBUG="true").returncode == 0


# --- what those settings do to requests -------------------------------------------------


@pytest.fixture
def https_on(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.ALLOWED_HOSTS = ["seen.example.org"]


@pytest.mark.django_db
def test_plain_http_is_redirected_and_https_gets_hsts(client, https_on):
    redirect = client.get("/", HTTP_HOST="seen.example.org")
    assert redirect.status_code == 301
    assert redirect["Location"] == "https://seen.example.org/"
    page = client.get("/", HTTP_HOST="seen.example.org", secure=True)
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    csrf_cookie = page.cookies["csrftoken"]
    assert csrf_cookie["secure"] and csrf_cookie["httponly"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/s/" + "A" * 32, "/m/" + "B" * 32, "/s/" + "A" * 32 + "/report"])
def test_the_https_redirect_of_a_link_is_as_private_as_the_link(client, https_on, path):
    # Location names the token: the 301 may be neither cached, indexed, framed nor
    # referred onwards, as the page it points to may not.
    redirect = client.get(path, HTTP_HOST="seen.example.org")
    assert redirect.status_code == 301
    assert redirect["Location"] == f"https://seen.example.org{path}"
    assert "no-store" in redirect["Cache-Control"]
    assert redirect["X-Robots-Tag"] == "noindex, nofollow"
    assert redirect["Referrer-Policy"] == "no-referrer"
    assert redirect["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in redirect["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_load_balancer_probe_is_not_redirected(client, https_on):
    response = client.get("/healthz", HTTP_HOST="10.0.0.5")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_a_forwarded_proto_counts_only_when_configured(client, https_on, settings):
    forged = client.get("/", HTTP_HOST="seen.example.org", HTTP_X_FORWARDED_PROTO="https")
    assert forged.status_code == 301
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_proxy = client.get("/", HTTP_HOST="seen.example.org", HTTP_X_FORWARDED_PROTO="https")
    assert behind_proxy.status_code == 200


def test_env_example_lists_every_variable_the_settings_read():
    import re

    read = set()
    for source in ("seen/settings.py", "seen/gunicorn.py"):
        text = (ROOT / source).read_text()
        read |= set(
            re.findall(r'(?:env\.[a-z_]+|_[a-z_]+|environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"', text)
        )
        read |= set(re.findall(r"environ\.get\('([A-Z][A-Z0-9_]+)'", text))
    listed = set(
        re.findall(r"^#?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    )
    assert "SEEN_TRUSTED_PROXIES" in read and "PORT" in read  # the scan itself works
    assert read - listed == set()
