from datetime import datetime
from wsgiref.util import is_hop_by_hop

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from shares.models import Share

from . import photos
from .helpers import jpeg_bytes, png_bytes, stored_keys

pytestmark = pytest.mark.django_db


def upload(client, path="/api/shares", photo=None, **fields):
    data = {**fields}
    if photo is not None:
        data["photo"] = photo
    return client.post(path, data)


def jpeg_file(name="cat.jpg", data=None):
    return SimpleUploadedFile(
        name, data if data is not None else jpeg_bytes(), content_type="image/jpeg"
    )


def test_it_creates_a_share_and_answers_201_with_the_contract(client):
    response = upload(client, photo=jpeg_file(), views="3")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "url",
        "manage_url",
        "views",
        "expires_at",
        "removed_metadata",
        "photos",
        "note",
        "viewer_can_end",
    }
    assert body["url"].startswith("http://testserver/s/")
    assert body["manage_url"].startswith("http://testserver/m/")
    assert body["views"] == 3
    datetime.fromisoformat(body["expires_at"])
    assert (
        response["Cache-Control"].startswith("max-age=0")
        and "no-store" in response["Cache-Control"]
    )
    share = Share.objects.get()
    assert (share.view_limit, share.photos.get().content_type) == (3, "image/jpeg")


def test_the_answer_says_what_was_removed_from_the_photo_as_the_page_does(client):
    from_a_phone = upload(client, photo=jpeg_file(data=photos.phone_jpeg())).json()
    # The words the result page shows, in its order.
    assert from_a_phone["removed_metadata"] == [
        "location",
        "camera model",
        "camera serial number",
        "date taken",
        "thumbnail",
        "comments",
        "other metadata",
    ]
    page = upload(client, path="/", photo=jpeg_file(data=photos.phone_jpeg())).content.decode()
    assert "Removed from the photo: " + ", ".join(from_a_phone["removed_metadata"]) in page
    plain = upload(client, photo=jpeg_file()).json()
    assert plain["removed_metadata"] == []


def test_defaults_are_one_view_and_24_hours(client):
    body = upload(client, photo=jpeg_file()).json()
    share = Share.objects.get()
    assert body["views"] == 1
    assert share.view_limit == 1
    assert round((share.expires_at - share.created_at).total_seconds()) == 86400


def test_unlimited_is_views_0(client):
    body = upload(
        client,
        photo=jpeg_file(),
        views="0",
        expires_in="3600",
        pin="12345678",
        prevent_download="true",
    ).json()
    share = Share.objects.get()
    assert body["views"] == 0
    assert share.view_limit is None
    assert share.has_pin and share.prevent_download


def test_content_type_comes_from_the_decoded_photo_not_the_upload(client):
    photo = SimpleUploadedFile("holiday.jpg", png_bytes(), content_type="image/jpeg")
    assert upload(client, photo=photo).status_code == 201
    assert Share.objects.get().photos.get().content_type == "image/png"


@pytest.mark.parametrize(
    "case, fields, message",
    [
        ("no file", {}, "Choose a photo"),
        ("empty file", {"photo": lambda: jpeg_file(data=b"")}, "empty"),
        (
            "text named .jpg",
            {"photo": lambda: jpeg_file(data=b"hello, I am not a photo\n" * 20)},
            "not a photo",
        ),
        (
            "truncated jpeg",
            {"photo": lambda: jpeg_file(data=jpeg_bytes(size=(400, 300))[:600])},
            "damaged",
        ),
        ("views=2", {"photo": jpeg_file, "views": "2"}, "views must be"),
        ("views=abc", {"photo": jpeg_file, "views": "abc"}, "views must be"),
        ("expiry not allowed", {"photo": jpeg_file, "expires_in": "999"}, "expires_in must be"),
        ("pin of 3 digits", {"photo": jpeg_file, "pin": "123"}, "4 to 8 digits"),
        ("pin with letters", {"photo": jpeg_file, "pin": "12ab"}, "4 to 8 digits"),
        (
            "prevent_download garbage",
            {"photo": jpeg_file, "prevent_download": "maybe"},
            "true or false",
        ),
    ],
)
def test_bad_input_gets_a_clear_400_and_leaves_nothing(client, case, fields, message):
    data = {key: (value() if callable(value) else value) for key, value in fields.items()}
    response = client.post("/api/shares", data)
    assert response.status_code == 400, case
    assert message in response.json()["error"]
    assert Share.objects.count() == 0
    assert stored_keys() == []


def test_a_file_over_the_limit_gets_413_and_leaves_nothing(client, settings):
    settings.SEEN_MAX_UPLOAD_BYTES = 2048
    big = jpeg_bytes(size=(300, 300), color=(1, 2, 3))
    big += b"\0" * (3000 - len(big)) if len(big) < 3000 else b""
    response = upload(client, photo=jpeg_file(data=big))
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    assert Share.objects.count() == 0
    assert stored_keys() == []


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, settings):
    settings.SEEN_MAX_SHARE_BYTES = 2048
    response = client.generic(
        "POST",
        "/api/shares",
        b"x" * 100,
        content_type="multipart/form-data; boundary=zz",
        headers={"Content-Length": str(10 * 1024 * 1024)},
    )
    assert response.status_code == 413
    assert Share.objects.count() == 0
    # A WSGI application may not set hop-by-hop headers: runserver turns them into a 500.
    assert not [name for name in response.headers if is_hop_by_hop(name)]


def test_the_api_refuses_get(client):
    response = client.get("/api/shares")
    assert response.status_code == 405


def test_the_html_form_creates_a_share_and_shows_both_links(client):
    response = upload(client, path="/", photo=jpeg_file(), views="5")
    assert response.status_code == 201
    html = response.content.decode()
    assert "/s/" in html and "/m/" in html
    assert "Keep this one to yourself" in html
    assert Share.objects.get().view_limit == 5


def test_the_html_form_shows_a_clear_error_and_stores_nothing(client):
    response = upload(
        client, path="/", photo=jpeg_file(data=b"<html><body>not a photo</body></html>")
    )
    assert response.status_code == 400
    assert "not a photo" in response.content.decode()
    assert Share.objects.count() == 0
    assert stored_keys() == []
