"""Headers every page sends, what a share's answers may not leave in caches or indexes,
robots.txt, the admin's address, and templates the CSP can serve."""

import importlib
import re
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import clear_url_caches

from .helpers import jpeg_bytes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_CSP = {
    "default-src": "'self'",
    "img-src": "'self' blob: data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def csp_directives(header: str) -> dict[str, str]:
    directives = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    return directives


def share_responses(client, make_share):
    """One answer of every kind a share gives, by name."""
    created = make_share(views=3, pin="4821")
    return {
        "open page": client.get(f"/s/{created.token}"),
        "wrong PIN": client.post(f"/s/{created.token}", {"pin": "0000"}),
        "image": client.post(f"/s/{created.token}", {"pin": "4821"}),
        "manage page": client.get(f"/m/{created.manage_token}"),
        "unknown link": client.get("/s/" + "A" * 32),
        "malformed link": client.get("/s/not-a-token"),
        "unknown manage link": client.get("/m/" + "B" * 32),
        "API created": client.post(
            "/api/shares", {"photo": SimpleUploadedFile("a.jpg", jpeg_bytes())}
        ),
        "API refused": client.post("/api/shares", {}),
        "API wrong method": client.get("/api/shares"),
        "created page": client.post("/", {"photo": SimpleUploadedFile("a.jpg", jpeg_bytes())}),
        "delete": client.delete(f"/m/{created.manage_token}"),
        "ended link": client.get(f"/s/{created.token}"),
    }


def test_every_page_sends_the_strict_content_security_policy(client, make_share):
    pages = {"upload page": client.get("/"), **share_responses(client, make_share)}
    for name, response in pages.items():
        assert csp_directives(response["Content-Security-Policy"]) == EXPECTED_CSP, name
        assert "unsafe-inline" not in response["Content-Security-Policy"], name


@pytest.mark.parametrize(
    "header, value",
    [
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ],
)
def test_every_page_sends_the_protective_headers(client, make_share, header, value):
    pages = {"upload page": client.get("/"), **share_responses(client, make_share)}
    for name, response in pages.items():
        assert response.get(header) == value, name


def test_everything_about_a_share_is_never_cached_nor_indexed(client, make_share):
    for name, response in share_responses(client, make_share).items():
        cache_control = response.get("Cache-Control", "")
        assert "no-store" in cache_control and "private" in cache_control, name
        assert response["X-Robots-Tag"] == "noindex, nofollow", name


def test_answers_given_before_any_view_are_private_too(client, settings, make_share):
    settings.SEEN_MAX_SHARE_BYTES = 2048
    too_large = client.generic(
        "POST",
        "/api/shares",
        b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10 * 1024 * 1024),
    )
    assert too_large.status_code == 413
    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "views": "1/m"}
    created = make_share()
    client.post(f"/s/{created.token}", {"pin": "1"})
    limited = client.post(f"/s/{created.token}")
    assert limited.status_code == 429
    for response in (too_large, limited):
        assert "no-store" in response["Cache-Control"]
        assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_the_public_upload_page_may_be_cached_by_nobody_but_is_not_marked_private(client):
    response = client.get("/")
    assert "X-Robots-Tag" not in response


def test_robots_txt_keeps_crawlers_away_from_links(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert "User-agent: *" in lines
    assert "Disallow: /s/" in lines and "Disallow: /m/" in lines


def test_the_open_page_leaks_no_referrer_even_without_the_header(client, make_share):
    # Older browsers ignore Referrer-Policy headers on some requests; the meta tag is a
    # second line of defence for the link in the address bar.
    html = client.get(f"/s/{make_share().token}").content.decode()
    assert '<meta name="referrer" content="no-referrer">' in html


def test_templates_have_no_inline_script_or_style():
    offenders = []
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:",
        re.IGNORECASE,
    )
    for template in sorted((ROOT / "templates").rglob("*.html")):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if inline.search(line):
                offenders.append(f"{template.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_scripts_do_not_need_what_the_csp_forbids():
    offenders = []
    forbidden = re.compile(r"\beval\(|new Function\(|setAttribute\(\s*[\"']style|\.innerHTML\s*=")
    for script in sorted((ROOT / "static").rglob("*.js")):
        for number, line in enumerate(script.read_text().splitlines(), 1):
            if forbidden.search(line):
                offenders.append(f"{script.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.fixture
def admin_path():
    """Serve the admin at another path, as SEEN_ADMIN_PATH would, then put it back."""
    import seen.urls

    overrides = []

    def move(path: str) -> None:
        override = override_settings(SEEN_ADMIN_PATH=path)
        override.enable()
        overrides.append(override)
        importlib.reload(seen.urls)
        clear_url_caches()

    yield move
    for override in reversed(overrides):
        override.disable()
    importlib.reload(seen.urls)
    clear_url_caches()


def test_the_admin_lives_where_seen_admin_path_says(client, admin_path):
    assert client.get("/admin/login/").status_code == 200
    admin_path("staff-4f9c/")
    assert client.get("/admin/login/").status_code == 404
    login = client.get("/staff-4f9c/login/")
    assert login.status_code == 200
    assert 'action="/staff-4f9c/login/' in login.content.decode()
    assert client.get("/staff-4f9c/").status_code == 302


def test_the_deployed_https_redirect_of_a_link_carries_the_private_headers(
    transactional_db, tmp_path
):
    from .deployed import gunicorn

    token, manage = "Zq3xY7wVb2Nc8Md1Lk4Jh6Gf5Ds9Pa0T", "Rt5yU8iO1pA4sD7fG0hJ3kL6zX9cV2bN"
    with gunicorn(tmp_path, SEEN_HTTPS="true") as server:
        for path in (f"/s/{token}", f"/m/{manage}", "/api/shares"):
            redirect = requests.get(f"{server.url}{path}", allow_redirects=False, timeout=10)
            assert redirect.status_code == 301, path
            assert redirect.headers["Location"] == f"https://127.0.0.1:{server.port}{path}"
            assert "no-store" in redirect.headers["Cache-Control"], path
            assert redirect.headers["X-Robots-Tag"] == "noindex, nofollow", path
            assert redirect.headers["Referrer-Policy"] == "no-referrer", path
            assert redirect.headers["X-Frame-Options"] == "DENY", path
            csp = csp_directives(redirect.headers["Content-Security-Policy"])
            assert csp == EXPECTED_CSP, path
        # The load balancer's probe is still answered, over plain HTTP, before the redirect.
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
