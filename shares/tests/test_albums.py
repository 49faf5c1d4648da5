"""Albums: several photos and a note behind one link (issue 15).

One POST spends one view for the whole album; each photo then has a one-time address,
good for one fetch within the view's window. The upload is all or nothing.
"""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from shares import photostore, services
from shares.models import EndReason, Photo, Share, ShareView

from .helpers import jpeg_bytes, png_bytes, stored_keys, token_in
from .test_encryption import database_dump

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
# Ending a share deletes its photos once the transaction commits.
ENDS_ON_COMMIT = pytest.mark.django_db(transaction=True)


def jpeg_file(name: str, color=(200, 30, 30), size=(64, 48)) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jpeg_bytes(size=size, color=color), content_type="image/jpeg")


def four_photos() -> list[SimpleUploadedFile]:
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    return [jpeg_file(f"page-{n}.jpg", color) for n, color in enumerate(colors, start=1)]


def upload(client, photos, path="/api/shares", **fields):
    return client.post(path, {"photo": photos, **fields})


def album(make_share, *, views=1, count=4, note="", **options):
    photos = [jpeg_bytes(color=(40 * n, 10, 10)) for n in range(count)]
    return make_share(views=views, photos=photos, note=note, **options)


def view_json(client, token: str, **data):
    return client.post(f"/s/{token}", data, **JSON)


def fetch(client, url: str):
    # A refusal answers JSON to a client that asks for it; the photo is bytes either way.
    return client.get(url.replace("http://testserver", ""), **JSON)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def served_photos(created) -> list[bytes]:
    """Each photo as cleaned and stored, decrypted with the link's key."""
    share = Share.objects.get(pk=created.share.pk)
    secret = photostore.photo_secret(token=created.token, salt=bytes(share.key_salt))
    out = []
    for photo in share.photos.order_by("position"):
        opened = photostore.open_photo(photo.key, secret=secret)
        out.append(b"".join(iter(lambda opened=opened: opened.read(1 << 16), b"")))
        opened.close()
    return out


# --- upload ----------------------------------------------------------------------------------


def test_several_photos_and_a_note_make_one_share_with_photos_in_order(client):
    response = upload(client, four_photos(), note="Front, back,\nthen the two pages.", views="3")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["note"] is True
    assert [p["content_type"] for p in answer["photos"]] == ["image/jpeg"] * 4
    share = Share.objects.get()
    assert share.photo_count == 4 and share.has_note and share.view_limit == 3
    positions = list(share.photos.values_list("position", flat=True))
    assert positions == [1, 2, 3, 4]
    assert len(stored_keys()) == 4
    assert sorted(share.photos.values_list("key", flat=True)) == stored_keys()


def test_the_upload_page_takes_several_photos_and_lists_each_on_the_created_page(client):
    response = upload(client, four_photos()[:3], path="/", note="hi")
    assert response.status_code == 201
    html = response.content.decode()
    for name in ("page-1.jpg", "page-2.jpg", "page-3.jpg"):
        assert name in html
    assert Photo.objects.count() == 3
    # The names are shown once, never stored.
    assert b"page-1.jpg" not in database_dump()


def nothing_stored() -> None:
    assert Share.objects.count() == 0
    assert Photo.objects.count() == 0
    assert stored_keys() == []


def test_a_damaged_third_photo_refuses_the_whole_upload_and_names_it(client):
    photos = four_photos()[:2] + [
        SimpleUploadedFile("scan.jpg", jpeg_bytes()[:200], content_type="image/jpeg")
    ]
    response = upload(client, photos)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "photo_damaged" and answer["photo"] == 3
    assert answer["error"].startswith("Photo 3 (scan.jpg): ")
    nothing_stored()


def test_a_photo_that_is_not_a_photo_is_named_on_the_upload_page(client):
    photos = [*four_photos()[:1], SimpleUploadedFile("notes.txt", b"hello", "text/plain")]
    response = upload(client, photos, path="/")
    assert response.status_code == 400
    assert "Photo 2 (notes.txt)" in response.content.decode()
    nothing_stored()


def test_one_photo_too_many_is_refused_and_named(client, settings):
    settings.SEEN_MAX_PHOTOS = 3
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    response = upload(client, four_photos())
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "too_many_photos" and answer["photo"] == 4
    assert "Photo 4 is one too many" in answer["error"]
    assert "up to 3 photos" in answer["error"]
    nothing_stored()


def test_photos_over_the_share_limit_together_are_refused_with_413(client, settings):
    photos = four_photos()
    total = sum(photo.size for photo in photos)
    # Under the limit one by one, over it together; the body fits the envelope's slack,
    # so it is the sum of the photos that refuses it, once the form is read.
    settings.SEEN_MAX_SHARE_BYTES = total - 10
    response = upload(client, photos)
    assert response.status_code == 413
    assert response.json()["code"] == "share_too_large"
    assert "too large together" in response.json()["error"]
    nothing_stored()


def test_a_body_over_the_share_limit_is_refused_from_content_length(client, settings):
    settings.SEEN_MAX_SHARE_BYTES = 4096
    response = client.generic(
        "POST",
        "/api/shares",
        b"x" * 100,
        content_type="multipart/form-data; boundary=zz",
        headers={"Content-Length": str(1024 * 1024)},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "share_too_large"
    nothing_stored()


def test_one_photo_over_its_own_limit_is_refused_and_named(client, settings):
    big = jpeg_file("big.jpg", size=(400, 400))
    settings.SEEN_MAX_UPLOAD_BYTES = big.size - 1
    response = upload(client, [*four_photos()[:1], big])
    assert response.status_code == 413
    answer = response.json()
    assert answer["code"] == "too_large" and answer["photo"] == 2
    assert answer["error"].startswith("Photo 2 (big.jpg): ")
    nothing_stored()


def test_a_storage_failure_on_the_third_photo_leaves_no_object(client, monkeypatch):
    save = photostore.save
    calls = []

    def failing_third(**kwargs):
        calls.append(kwargs["key"])
        if len(calls) == 3:
            raise photostore.StorageUnavailable("bucket went away")
        save(**kwargs)

    monkeypatch.setattr(photostore, "save", failing_third)
    response = upload(client, four_photos())
    assert response.status_code == 503
    nothing_stored()


# --- the note --------------------------------------------------------------------------------

HOSTILE_NOTE = '<script>alert("x")</script><img src=x onerror=alert(1)> & line one\nline two'


def test_the_note_is_shown_as_text_with_its_line_breaks(client):
    response = upload(client, four_photos()[:2], note=HOSTILE_NOTE)
    token = token_in(response.json()["url"])
    page = client.post(f"/s/{token}", {}, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "line one<br>line two" in html


def test_the_note_in_json_is_the_text_as_written(client):
    response = upload(client, four_photos()[:2], note=HOSTILE_NOTE)
    token = token_in(response.json()["url"])
    assert view_json(client, token).json()["note"] == HOSTILE_NOTE


def test_a_note_of_1001_characters_is_refused(client):
    response = upload(client, four_photos()[:2], note="x" * 1001)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_note"
    nothing_stored()


def test_a_note_of_1000_characters_with_browser_line_breaks_is_taken(client):
    # A browser sends a textarea's line breaks as CRLF; its maxlength counted them as one.
    note = ("y" * 99 + "\n") * 10
    response = upload(client, four_photos()[:1], note=note.replace("\n", "\r\n"))
    assert response.status_code == 201, response.content
    token = token_in(response.json()["url"])
    assert view_json(client, token).json()["note"] == note.strip()


def test_the_note_is_unreadable_in_the_database_and_opens_only_with_the_link(client):
    note = "The door code is 4711-SECRET, the key is under the blue flowerpot."
    response = upload(client, four_photos()[:2], note=note)
    dump = database_dump()
    for window in (note[i : i + 12] for i in range(0, len(note) - 12, 4)):
        assert window.encode() not in dump
    share = Share.objects.get()
    assert bytes(share.note_sealed)[:4] == b"SEEN"
    token = token_in(response.json()["url"])
    assert view_json(client, token).json()["note"] == note


def test_a_note_alone_with_one_photo_makes_the_view_an_album(client):
    response = upload(client, four_photos()[:1], note="see you")
    token = token_in(response.json()["url"])
    answer = view_json(client, token)
    assert answer["Content-Type"] == "application/json"
    assert answer.json()["note"] == "see you" and len(answer.json()["photos"]) == 1


# --- one view, each photo once ---------------------------------------------------------------


def test_one_view_is_the_whole_album_and_each_photo_is_fetched_once(client, make_share):
    created = album(make_share, views=3, note="four pages")
    expected = served_photos(created)
    answer = view_json(client, created.token)
    assert answer.status_code == 200
    assert answer["Cache-Control"].startswith("max-age=0") or "no-store" in answer["Cache-Control"]
    listing = answer.json()
    assert listing["views_remaining"] == 2 and listing["note"] == "four pages"
    assert [p["size"] for p in listing["photos"]] == [len(data) for data in expected]
    for photo, data in zip(listing["photos"], expected, strict=True):
        assert "/v/" in photo["url"] and created.token not in photo["url"]
        first = fetch(client, photo["url"])
        assert first.status_code == 200
        assert "no-store" in first["Cache-Control"]
        assert first["Content-Type"] == photo["content_type"] == "image/jpeg"
        assert body(first) == data
        again = fetch(client, photo["url"])
        assert again.status_code == 410 and again.json()["code"] == "photo_fetched"
    share = Share.objects.get()
    assert share.views_used == 1
    view = share.views.get()
    assert view.fetched == 0b1111 and not view.window_open and view.fetch_key is None


def test_a_photo_address_after_its_window_has_closed_is_refused(client, make_share):
    created = album(make_share, views=3)
    photos = view_json(client, created.token).json()["photos"]
    assert fetch(client, photos[0]["url"]).status_code == 200
    ShareView.objects.update(fetch_until=timezone.now() - timedelta(seconds=1))
    late = fetch(client, photos[1]["url"])
    assert late.status_code == 410 and late.json()["code"] == "photo_fetched"
    view = ShareView.objects.get()
    assert not view.window_open and view.fetch_key is None


def test_a_late_fetch_of_the_last_view_deletes_its_photos_at_once(client, make_share):
    created = album(make_share, views=1)
    photos = view_json(client, created.token).json()["photos"]
    ShareView.objects.update(fetch_until=timezone.now() - timedelta(seconds=1))
    assert fetch(client, photos[0]["url"]).status_code == 410
    assert stored_keys() == []


def test_an_unknown_or_malformed_photo_address_is_404(client, make_share):
    created = album(make_share, views=3)
    url = view_json(client, created.token).json()["photos"][0]["url"]
    secret = url.split("/v/")[1].split("/")[0]
    assert client.get(f"/v/{'A' * 32}/1").status_code == 404
    assert client.get(f"/v/{secret}/5").status_code == 404
    assert client.get(f"/v/{secret}/0").status_code == 404
    assert client.get("/v/short/1").status_code == 404
    assert client.post(f"/v/{secret}/1").status_code == 405


def test_a_get_of_the_share_page_spends_nothing_and_opens_no_window(client, make_share):
    created = album(make_share, views=1)
    for _ in range(3):
        assert client.get(f"/s/{created.token}").status_code == 200
    share = Share.objects.get()
    assert share.views_used == 0 and not share.views.exists()


def test_the_last_views_photos_are_deleted_once_all_were_delivered(client, make_share):
    created = album(make_share, views=1)
    photos = view_json(client, created.token).json()["photos"]
    share = Share.objects.get()
    assert share.end_reason == EndReason.VIEWED and share.key_salt is None
    assert len(stored_keys()) == 4  # still to be delivered
    assert client.post(f"/s/{created.token}", **JSON).status_code == 410
    for photo in photos[:3]:
        assert body(fetch(client, photo["url"]))[:2] == b"\xff\xd8"
    assert len(stored_keys()) == 4
    assert body(fetch(client, photos[3]["url"]))[:2] == b"\xff\xd8"
    assert stored_keys() == []
    assert Share.objects.get().photo_deleted_at is not None


def test_the_last_views_photos_are_deleted_by_purge_once_its_window_closed(client, make_share):
    created = album(make_share, views=1)
    photos = view_json(client, created.token).json()["photos"]
    body(fetch(client, photos[0]["url"]))
    services.shares_purge()
    assert len(stored_keys()) == 4  # the window is still open
    ShareView.objects.update(fetch_until=timezone.now() - timedelta(seconds=1))
    result = services.shares_purge()
    assert (result.shares, result.objects) == (1, 4)
    assert stored_keys() == [] and not Share.objects.exists()


def test_the_no_script_view_is_a_page_of_the_photos_that_each_load_once(client, make_share):
    created = album(make_share, views=3, note="hello")
    page = client.post(f"/s/{created.token}", {}, HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert page["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    import re

    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == 4 and all("/v/" in src for src in sources)
    for src in sources:
        assert fetch(client, src).status_code == 200
        assert fetch(client, src).status_code == 410


def test_a_one_photo_share_still_answers_its_bytes(client, make_share):
    created = make_share(views=3)
    response = client.post(f"/s/{created.token}")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["Seen-End-Url"].startswith("/v/")


def test_a_missing_photo_refuses_the_album_view_before_it_is_spent(client, make_share):
    from django.core.files.storage import default_storage

    created = album(make_share, views=3)
    default_storage.delete(created.share.photos.get(position=3).key)
    answer = view_json(client, created.token)
    assert answer.status_code == 410 and answer.json()["reason"] == "missing"
    share = Share.objects.get()
    assert share.views_used == 0 and share.end_reason == EndReason.MISSING


def test_a_cut_photo_refuses_the_album_view_as_damaged(client, make_share):
    from .helpers import put_object

    created = album(make_share, views=3)
    key = created.share.photos.get(position=2).key
    from .test_encryption import raw

    put_object(key, raw(key)[:-5])
    answer = view_json(client, created.token)
    assert answer.status_code == 410 and answer.json()["reason"] == "damaged"
    assert Share.objects.get().views_used == 0


# --- "I'm done, delete it now" ---------------------------------------------------------------


def done(client, end_url: str, **data):
    return client.post(end_url, data, **JSON)


@ENDS_ON_COMMIT
def test_a_viewer_ends_a_limited_album_when_done_and_its_photos_go(client, make_share):
    created = album(make_share, views=5)
    listing = view_json(client, created.token).json()
    assert listing["can_end"] is True
    for photo in listing["photos"]:
        body(fetch(client, photo["url"]))
    refused = done(client, listing["end_url"])
    assert refused.status_code == 400 and refused.json()["code"] == "confirm_required"
    assert len(stored_keys()) == 4
    answer = done(client, listing["end_url"], confirm="true")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ended", "end_reason": "viewer"}
    share = Share.objects.get()
    assert share.end_reason == EndReason.VIEWER and share.key_salt is None
    assert stored_keys() == []
    assert client.post(f"/s/{created.token}", **JSON).json()["reason"] == "viewer"
    manage = client.get(f"/m/{created.manage_token}").content.decode()
    assert "ended by a viewer" in manage


@ENDS_ON_COMMIT
def test_ending_closes_other_viewers_windows(client, make_share):
    created = album(make_share, views=5)
    first = view_json(client, created.token).json()
    second = view_json(client, created.token).json()
    assert done(client, first["end_url"], confirm="true").status_code == 200
    assert fetch(client, second["photos"][0]["url"]).status_code == 410
    assert stored_keys() == []


@ENDS_ON_COMMIT
def test_a_one_photo_viewer_ends_the_share_with_the_header_address(client, make_share):
    created = make_share(views=3)
    viewed = client.post(f"/s/{created.token}")
    body(viewed)
    answer = done(client, viewed["Seen-End-Url"], confirm="true")
    assert answer.status_code == 200
    assert stored_keys() == []


def test_an_unlimited_share_ends_by_a_viewer_only_when_the_sender_allowed_it(client, make_share):
    closed = album(make_share, views=0)
    listing = view_json(client, closed.token).json()
    assert listing["can_end"] is False and listing["end_url"] is None
    single = make_share(views=0)
    assert "Seen-End-Url" not in client.post(f"/s/{single.token}")

    allowed = album(make_share, views=0, viewer_can_end=True)
    listing = view_json(client, allowed.token).json()
    assert listing["can_end"] is True
    assert done(client, listing["end_url"], confirm="true").status_code == 200
    assert Share.objects.get(pk=allowed.share.pk).end_reason == EndReason.VIEWER
    assert Share.objects.get(pk=closed.share.pk).ended_at is None


def test_ending_is_refused_where_the_sender_did_not_allow_it(client, make_share):
    created = album(make_share, views=0)
    url = view_json(client, created.token).json()["photos"][0]["url"]
    secret = url.split("/v/")[1].split("/")[0]
    refused = done(client, f"/v/{secret}/done", confirm="true")
    assert refused.status_code == 403 and refused.json()["code"] == "end_not_allowed"
    assert Share.objects.get().ended_at is None


@ENDS_ON_COMMIT
def test_done_after_the_last_view_is_accepted_and_deletes_at_once(client, make_share):
    created = album(make_share, views=1)
    listing = view_json(client, created.token).json()
    body(fetch(client, listing["photos"][0]["url"]))
    assert len(stored_keys()) == 4
    answer = done(client, listing["end_url"], confirm="true")
    assert answer.status_code == 200 and answer.json()["end_reason"] == "viewed"
    assert stored_keys() == []


def test_the_no_script_done_form_says_the_photos_are_deleted(client, make_share):
    created = album(make_share, views=3)
    listing = view_json(client, created.token).json()
    page = client.post(listing["end_url"], {"confirm": "true"}, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert "the photos are deleted" in page.content.decode()


def test_an_unknown_view_secret_cannot_end_anything(client, make_share):
    created = album(make_share, views=3)
    assert done(client, f"/v/{'B' * 32}/done", confirm="true").status_code == 404
    assert Share.objects.get(pk=created.share.pk).ended_at is None


# --- the rest of the lifecycle ----------------------------------------------------------------


@ENDS_ON_COMMIT
def test_the_sender_revoking_closes_open_windows_and_deletes_every_photo(client, make_share):
    created = album(make_share, views=3)
    photos = view_json(client, created.token).json()["photos"]
    assert client.delete(f"/m/{created.manage_token}").status_code == 200
    assert fetch(client, photos[0]["url"]).status_code == 410
    assert stored_keys() == []


def test_purge_deletes_an_expired_albums_every_photo(make_share):
    created = album(make_share, views=3)
    Share.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    result = services.shares_purge()
    assert (result.shares, result.objects, result.failed) == (1, 4, 0)
    assert stored_keys() == [] and not Photo.objects.exists()
    assert created.share.pk not in Share.objects.values_list("pk", flat=True)


def test_purge_claims_a_batch_by_objects_not_shares(make_share, monkeypatch):
    from shares.services import purge

    for _ in range(3):
        album(make_share, views=3, count=4)
    Share.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    monkeypatch.setattr(purge, "DELETE_OBJECTS_MAX", 8)
    batches = []
    delete_many = photostore.delete_many

    def counting(keys):
        batches.append(len(keys))
        return delete_many(keys)

    monkeypatch.setattr(photostore, "delete_many", counting)
    result = services.shares_purge(batch_size=1)
    assert (result.shares, result.objects) == (3, 12)
    assert batches == [8, 4]


def test_orphans_purge_keeps_every_photo_of_a_live_album(make_share):
    album(make_share, views=3)
    assert services.orphans_purge(min_age=timedelta(0)) == (0, 0)
    assert len(stored_keys()) == 4


def test_the_api_answers_a_one_photo_upload_as_before(client):
    response = upload(client, [SimpleUploadedFile("a.png", png_bytes(), "image/png")])
    assert response.status_code == 201
    token = token_in(response.json()["url"])
    viewed = client.post(f"/s/{token}")
    assert viewed["Content-Type"] == "image/png"
    assert body(viewed)[:4] == b"\x89PNG"


def test_the_photos_of_an_album_are_each_sealed_under_their_own_name(make_share):
    created = album(make_share, views=3, count=2)
    share = Share.objects.get()
    first, second = share.photos.order_by("position")
    secret = photostore.photo_secret(token=created.token, salt=bytes(share.key_salt))
    from .test_encryption import overwrite, raw

    overwrite(first.key, raw(second.key))  # the right key, the wrong object
    with pytest.raises(photostore.PhotoDamaged):
        photostore.open_photo(first.key, secret=secret)
    assert io.BytesIO(raw(second.key)).read(4) == b"SEEN"


@ENDS_ON_COMMIT
def test_a_moderator_removing_albums_deletes_every_photo_and_closes_windows(
    client, make_share, moderator
):
    viewed = album(make_share, views=3)
    other = album(make_share, views=3, count=2)
    photos = view_json(client, viewed.token).json()["photos"]
    removed = services.shares_remove(share_ids=[viewed.share.pk, other.share.pk], actor=moderator)
    assert {share.pk for share in removed.removed} == {viewed.share.pk, other.share.pk}
    assert removed.photos_waiting == 0
    assert stored_keys() == []
    assert fetch(client, photos[0]["url"]).status_code == 410
    assert Share.objects.get(pk=viewed.share.pk).streams_open == 0


def test_a_view_secret_never_reaches_the_logs():
    from seen.logredact import redact

    secret = "C" * 32
    assert redact(f"GET /v/{secret}/2 HTTP/1.1") == "GET /v/…/2 HTTP/1.1"
    assert secret not in redact(f"Not Found: /v/{secret}/done")
