import io
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from shares.models import Share

from .helpers import stored_keys

# Not transaction=True: the photo deletions that wait for a commit run inside
# django_capture_on_commit_callbacks(execute=True), at the point they would have committed.
pytestmark = pytest.mark.django_db


def read(response) -> bytes:
    """The whole streamed body. Reading to the end closes the response, as a WSGI server
    does (the test client's wrapper calls close(); that is when a last view is over)."""
    return b"".join(response.streaming_content)


def test_opening_the_link_shows_the_page_and_spends_nothing(client, make_share):
    created = make_share(views=3)
    for _ in range(3):
        response = client.get(f"/s/{created.token}")
        assert response.status_code == 200
    html = response.content.decode()
    assert "A photo was shared with you" in html
    assert "viewed 3 more times" in html
    assert "View photo" in html
    assert Share.objects.get().views_used == 0
    assert "no-store" in response["Cache-Control"]


def test_a_one_view_page_says_what_will_happen(client, make_share):
    created = make_share(views=1)
    html = client.get(f"/s/{created.token}").content.decode()
    assert "can be viewed 1 more time. It will be deleted after that." in html


def test_pressing_view_streams_the_image_once(client, make_share, any_storage):
    created = make_share(views=1)
    response = client.post(f"/s/{created.token}")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"]
    assert response["Seen-Views-Remaining"] == "0"
    body = read(response)
    assert body[:2] == b"\xff\xd8" and len(body) == int(response["Content-Length"])
    assert stored_keys() == []

    gone = client.get(f"/s/{created.token}")
    assert gone.status_code == 410
    assert "This photo is gone" in gone.content.decode()
    assert client.post(f"/s/{created.token}").status_code == 410


def test_views_remaining_counts_down_and_says_unlimited(client, make_share):
    limited = make_share(views=3)
    assert [client.post(f"/s/{limited.token}")["Seen-Views-Remaining"] for _ in range(3)] == [
        "2",
        "1",
        "0",
    ]
    unlimited = make_share(views=0)
    assert client.post(f"/s/{unlimited.token}")["Seen-Views-Remaining"] == "unlimited"


def test_a_pin_protected_share_asks_for_the_pin(client, make_share):
    created = make_share(views=1, pin="2468")
    assert 'name="pin"' in client.get(f"/s/{created.token}").content.decode()

    wrong = client.post(f"/s/{created.token}", {"pin": "1111"})
    assert wrong.status_code == 403
    assert "Wrong PIN. 4 attempts left" in wrong.content.decode()

    as_json = client.post(
        f"/s/{created.token}", {"pin": "1111"}, headers={"Accept": "application/json"}
    )
    assert as_json.status_code == 403
    assert as_json.json()["attempts_left"] == 3

    right = client.post(f"/s/{created.token}", {"pin": "2468"})
    assert right.status_code == 200
    read(right)


def test_five_wrong_pins_answer_410_and_delete_the_photo(
    client, make_share, django_capture_on_commit_callbacks
):
    created = make_share(views=3, pin="2468")
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [
            client.post(f"/s/{created.token}", {"pin": "0000"}).status_code for _ in range(5)
        ]
    assert statuses == [403, 403, 403, 403, 410]
    assert stored_keys() == []
    assert client.post(f"/s/{created.token}", {"pin": "2468"}).status_code == 410


def test_an_expired_link_answers_410(client, make_share):
    created = make_share(views=1, expires_in=3600)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = client.get(f"/s/{created.token}")
        assert response.status_code == 410
        assert "expired" in response.content.decode()
        assert client.post(f"/s/{created.token}").status_code == 410


@pytest.mark.parametrize(
    "token",
    [
        "A" * 32,
        "short",
        "A" * 33,
        "has.dots.in.it.and.is.long.enough",
        "%00" * 11,
        "../../etc/passwd",
    ],
)
def test_unknown_or_malformed_tokens_answer_404(client, token):
    for method in (client.get, client.post):
        response = method(f"/s/{token}")
        assert response.status_code == 404
    assert client.get(f"/m/{token}").status_code == 404
    assert client.delete(f"/m/{token}").status_code == 404


def test_errors_for_scripts_are_json(client):
    response = client.post("/s/" + "A" * 32, headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert "no photo" in response.json()["error"]


def test_the_manage_page_shows_views_and_expiry(client, make_share):
    created = make_share(views=3)
    read(client.post(f"/s/{created.token}"))
    html = client.get(f"/m/{created.manage_token}").content.decode()
    assert "private to you" in html
    assert 'id="views-used">1<' in html
    assert "2 of 3" in html
    assert html.count("<li><time") == 1
    assert "Delete now" in html


def test_delete_now_from_the_manage_page(
    client, make_share, any_storage, django_capture_on_commit_callbacks
):
    created = make_share(views=3)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/m/{created.manage_token}")
    assert response.status_code == 302
    assert stored_keys() == []
    assert "deleted by the sender" in client.get(f"/m/{created.manage_token}").content.decode()
    assert client.get(f"/s/{created.token}").status_code == 410


def test_delete_on_the_manage_url(client, make_share, django_capture_on_commit_callbacks):
    created = make_share(views=3)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"/m/{created.manage_token}")
    assert response.status_code == 200
    assert response.json() == {"status": "ended", "end_reason": "revoked"}
    assert stored_keys() == []


def test_a_repeated_delete_answers_the_same_until_purge_removes_the_share(client, make_share):
    created = make_share(views=3)
    first = client.delete(f"/m/{created.manage_token}")
    again = client.delete(f"/m/{created.manage_token}")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() == {"status": "ended", "end_reason": "revoked"}

    # A share that ended otherwise says why it ended first; deleting it changes nothing.
    viewed = make_share(views=1)
    read(client.post(f"/s/{viewed.token}"))
    late = client.delete(f"/m/{viewed.manage_token}")
    assert late.status_code == 200
    assert late.json() == {"status": "ended", "end_reason": "viewed"}

    call_command("purge", stdout=io.StringIO())
    gone = client.delete(f"/m/{created.manage_token}")
    assert gone.status_code == 404
    assert "no share at this manage link" in gone.json()["error"]


def test_the_photo_folder_has_no_url(client, make_share, local_storage):
    make_share()
    key = Share.objects.get().photos.get().key
    assert client.get(f"/{key}").status_code == 404
    assert client.get(f"/media/{key}").status_code == 404


def test_healthz_checks_database_and_storage(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}


def test_healthz_answers_a_probe_by_ip_whatever_allowed_hosts_says(client, settings):
    settings.ALLOWED_HOSTS = ["seen.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", headers={"Host": "10.0.0.7:8000"})
    assert response.status_code == 200
    assert client.get("/", headers={"Host": "10.0.0.7:8000"}).status_code == 400


def test_the_upload_page_works_without_script(client):
    html = client.get("/").content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert 'name="photo"' in html and 'accept="image/*"' in html
    for value in ("1", "3", "5", "10", "0"):
        assert f'name="views" value="{value}"' in html
    assert "<script" not in html.split("</head>")[1]  # no inline script in the body
