"""POST /api/shares refuses a browser's request from another site's page (which would
spend the visitor's upload quota), and keeps working for curl and for this site itself."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from shares.api import FOREIGN_ORIGIN_MESSAGE
from shares.models import Share

from .helpers import jpeg_bytes, stored_keys

pytestmark = pytest.mark.django_db


def upload(client, **headers):
    photo = SimpleUploadedFile("cat.jpg", jpeg_bytes(), content_type="image/jpeg")
    return client.post("/api/shares", {"photo": photo}, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://elsewhere.example"},
        {"Origin": "http://testserver.elsewhere.example"},
        {"Origin": "https://testserver"},  # another scheme is another origin
        {"Origin": "http://testserver:8080"},
        {"Origin": "null"},  # a sandboxed frame, a file:// page: never this site
        {"Origin": "not a url"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another site's page too
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_browser_request_from_another_site_is_refused_and_stores_nothing(client, headers):
    response = upload(client, **headers)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": FOREIGN_ORIGIN_MESSAGE, "code": "foreign_origin"}
    assert Share.objects.count() == 0
    assert stored_keys() == []


def test_curl_sends_no_origin_and_is_accepted(client):
    assert upload(client).status_code == 201
    assert Share.objects.count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver"},
        {"Origin": "HTTP://TestServer:80"},  # the same origin, spelled otherwise
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed by the user, not sent by a page
    ],
)
def test_a_request_from_this_site_is_accepted(client, headers):
    assert upload(client, **headers).status_code == 201
    assert Share.objects.count() == 1


def test_behind_a_proxy_the_public_address_is_this_site(client, settings):
    # The proxy speaks HTTPS to the browser and plain HTTP to the app.
    settings.SEEN_BASE_URL = "https://seen.example.org"
    assert upload(client, Origin="https://seen.example.org").status_code == 201
    assert upload(client, Origin="https://other.example.org").status_code == 403
    assert Share.objects.count() == 1


def test_a_refused_request_does_not_spend_the_visitors_upload_quota(client, settings):
    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "uploads": "1/h"}
    for _ in range(3):
        assert upload(client, Origin="https://elsewhere.example").status_code == 403
    assert upload(client).status_code == 201
    assert upload(client).status_code == 429


def test_the_upload_page_posts_to_its_own_form_not_to_the_api(client):
    # The page's script sends the form to / with its CSRF token, which Django's CSRF check
    # (Origin included) protects; the Origin rule of the API does not touch it.
    page = client.get("/").content.decode()
    assert 'action="/"' in page
    response = client.post(
        "/",
        {"photo": SimpleUploadedFile("cat.jpg", jpeg_bytes(), content_type="image/jpeg")},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 201
