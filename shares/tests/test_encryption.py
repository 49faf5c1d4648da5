"""Photos at rest: sealed with a key that only the link holds, unreadable once a share ends
(crypto-shredding), refused when altered, and open to moderators only when reported."""

import http.client
import io
import logging
import math
import os
import secrets
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from shares import keyed, photostore, services
from shares.models import EndReason, ModerationAction, ModerationEvent, Report, Share

from .helpers import put_object, stored_keys, wait_for
from .photos import (
    _encode,
    animated_gif,
    camera_picture,
    heic_photo,
    jpeg_photo,
    png_photo,
    still_webp,
)
from .test_s3_wire import moto_server  # noqa: F401 - the fixture, for the leak test on the wire

CHUNK = photostore.CHUNK

SIGNATURES = {
    "JPEG": b"\xff\xd8\xff",
    "PNG": b"\x89PNG",
    "GIF": b"GIF8",
    "WebP": b"WEBP",
    "HEIC": b"ftypheic",
    "HEIF": b"ftypmif1",
    "EXIF": b"Exif\x00",
}

FORMATS = {
    "jpeg": lambda: jpeg_photo(size=(320, 240)),
    "png": lambda: png_photo(size=(200, 150)),
    "gif": animated_gif,
    "webp": lambda: still_webp(size=(200, 150)),
    "heic": lambda: heic_photo(size=(128, 96)),
}


def raw(key: str) -> bytes:
    """A stored object's bytes, as anyone reading the bucket or the folder gets them."""
    bucket = getattr(default_storage, "bucket", None)
    if bucket is not None:
        return bucket.meta.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()
    with open(default_storage.path(key), "rb") as file:
        return file.read()


def overwrite(key: str, data: bytes) -> None:
    if getattr(default_storage, "bucket", None) is None:
        os.remove(default_storage.path(key))
    put_object(key, data)


def database_dump() -> bytes:
    """Every row of every table, as a copy of the database would hold it."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        parts.append(bytes(value))
                    elif value is not None:
                        parts.append(str(value).encode())
    return b"\n".join(parts)


def entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte (8 for noise)."""
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


def view(client, token: str, **data):
    return client.post(f"/s/{token}", data, HTTP_ACCEPT="application/json")


def served(response) -> bytes:
    return b"".join(response.streaming_content)


def report_with_key(token: str, pin: str = "") -> Report:
    return services.report_create(
        token=token,
        reason="illegal",
        reporter_address=f"2001:db8::{secrets.randbelow(10**6):x}",
        pin=pin,
    )


# --- the format ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_a_sealed_object_opens_to_the_same_bytes_chunk_by_chunk(size):
    data = os.urandom(size)
    secret = os.urandom(32)
    sealed = photostore.seal(data, secret=secret, key="photos/a.jpg")
    assert sealed[:5] == b"SEEN\x01"
    if size >= 16:  # a byte or two of noise may turn up in the ciphertext by chance
        assert data[:64] not in sealed[5:]
    chunks = max(math.ceil(size / CHUNK), 1)
    assert len(sealed) == 9 + 24 + size + 17 * chunks
    body = photostore.PhotoBody(io.BytesIO(sealed), s3=True, secret=secret, key="photos/a.jpg")
    read = list(iter(lambda: body.read(CHUNK), b""))
    assert b"".join(read) == data
    assert all(len(part) <= CHUNK for part in read)
    assert not hasattr(body, "fileno")  # never sendfile()'d: the file holds the sealed bytes


def sealed_body(sealed: bytes, *, secret: bytes, key: str = "photos/a.jpg"):
    body = photostore.PhotoBody(io.BytesIO(sealed), s3=True, secret=secret, key=key)
    return b"".join(iter(lambda: body.read(CHUNK), b""))


ALTERATIONS = {
    "a flipped bit in the header": lambda s: s[:12] + bytes([s[12] ^ 1]) + s[13:],
    "a flipped bit in the first chunk": lambda s: s[:40] + bytes([s[40] ^ 1]) + s[41:],
    "a flipped bit in the last chunk": lambda s: s[:-3] + bytes([s[-3] ^ 1]) + s[-2:],
    "cut at a chunk's end": lambda s: s[: 33 + CHUNK + 17],
    "cut inside a chunk": lambda s: s[: 33 + CHUNK + 17 + 100],
    "cut in the header": lambda s: s[:20],
    "two chunks swapped": lambda s: (
        s[:33]
        + s[33 + CHUNK + 17 : 33 + 2 * (CHUNK + 17)]
        + s[33 : 33 + CHUNK + 17]
        + s[33 + 2 * (CHUNK + 17) :]
    ),
    "a chunk dropped": lambda s: s[:33] + s[33 + CHUNK + 17 :],
    "bytes after the end": lambda s: s + b"\x00",
    "another version": lambda s: s[:4] + b"\x02" + s[5:],
    "not sealed at all": lambda s: b"\xff\xd8\xff\xe0" + s[4:],
}


@pytest.mark.parametrize("alteration", ALTERATIONS)
def test_every_alteration_of_a_sealed_object_is_refused(alteration):
    data, secret = os.urandom(3 * CHUNK + 10), os.urandom(32)
    sealed = photostore.seal(data, secret=secret, key="photos/a.jpg")
    altered = ALTERATIONS[alteration](sealed)
    assert altered != sealed
    with pytest.raises((photostore.PhotoDamaged, OSError)):
        sealed_body(altered, secret=secret)


def test_the_wrong_key_or_another_objects_name_is_refused():
    data, secret = os.urandom(1000), os.urandom(32)
    sealed = photostore.seal(data, secret=secret, key="photos/a.jpg")
    with pytest.raises(photostore.PhotoDamaged):
        sealed_body(sealed, secret=os.urandom(32))
    with pytest.raises(photostore.PhotoDamaged):
        sealed_body(sealed, secret=secret, key="photos/b.jpg")  # moved under another key
    assert sealed_body(sealed, secret=secret) == data


def test_the_photo_key_depends_on_the_token_and_the_salt_and_is_not_the_lookup_hash():
    from shares.models import token_hash

    token, salt = services.new_token(), photostore.new_salt()
    key = photostore.photo_secret(token=token, salt=salt)
    assert len(key) == 32 and key == photostore.photo_secret(token=token, salt=salt)
    assert key != photostore.photo_secret(token=token, salt=photostore.new_salt())
    assert key != photostore.photo_secret(token=services.new_token(), salt=salt)
    assert key.hex() != token_hash(token) and key not in bytes.fromhex(token_hash(token))


# --- nothing readable at rest ------------------------------------------------------------


def assert_nothing_readable(created: dict[str, tuple], originals: dict[str, bytes]) -> None:
    dump = database_dump()
    for name, (share_created, _served_bytes) in created.items():
        share = Share.objects.get(pk=share_created.share.pk)
        stored = raw(share.photos.get().key)
        secret = photostore.photo_secret(token=share_created.token, salt=bytes(share.key_salt))
        for where, blob in (("object", stored), ("database", dump)):
            assert share_created.token.encode() not in blob, (name, where)
            assert share_created.manage_token.encode() not in blob, (name, where)
            assert secret not in blob and secret.hex().encode() not in blob, (name, where)
        for signature in SIGNATURES.values():
            assert signature not in stored, name
        for data in (originals[name], _served_bytes):
            # No run of the photo's bytes: 32-byte windows from all over it.
            for start in range(0, max(len(data) - 32, 1), max(len(data) // 50, 1)):
                window = data[start : start + 32]
                assert window not in stored and window not in dump, (name, start)
        if len(stored) >= 4096:
            assert entropy(stored) > 7.9, name


def make_every_format(client) -> tuple[dict, dict]:
    created, originals = {}, {}
    for name, make in FORMATS.items():
        originals[name] = make()
        share_created = services.share_create(
            photos=[io.BytesIO(originals[name])], views=3, expires_in=86400
        )
        response = view(client, share_created.token)
        assert response.status_code == 200, name
        created[name] = (share_created, served(response))
    return created, originals


def test_no_stored_byte_reveals_a_photo_on_the_folder_and_in_the_database(
    client, db, local_storage
):
    created, originals = make_every_format(client)
    assert_nothing_readable(created, originals)
    for share_created, first in created.values():  # with the link, the same bytes again
        assert served(view(client, share_created.token)) == first


@pytest.mark.django_db
def test_no_stored_byte_reveals_a_photo_on_s3_over_the_wire(client, settings, moto_server):  # noqa: F811
    bucket = f"seen-leak-{secrets.token_hex(6)}"
    moto_server.client().create_bucket(Bucket=bucket)
    settings.STORAGES = {**settings.STORAGES, "default": moto_server.storage(bucket)}
    created, originals = make_every_format(client)
    assert_nothing_readable(created, originals)
    for share_created, first in created.values():
        assert served(view(client, share_created.token)) == first


def test_the_upload_writes_only_sealed_bytes_even_to_temporary_files(
    client, db, local_storage, jpeg, monkeypatch
):
    """Plain bytes never touch the disk: the one file written is the sealed object (and
    Django's upload handlers keep a photo this size in memory)."""
    import builtins

    written = []
    real_open = builtins.open

    def spying_open(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            written.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spying_open)
    monkeypatch.setattr(os, "open", _spy_os_open(written, os.open))
    response = client.post("/api/shares", {"photo": io.BytesIO(jpeg)})
    assert response.status_code == 201
    share = Share.objects.get()
    files = [path for path in written if "photos" in path or "tmp" in path]
    assert files and all(path.startswith(str(local_storage)) for path in files), files
    assert raw(share.photos.get().key)[:4] == b"SEEN"


def _spy_os_open(written, real):
    def spy(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            written.append(str(path))
        return real(path, flags, *args, **kwargs)

    return spy


# --- crypto-shredding ------------------------------------------------------------------------


def _last_view(client, created):
    return served(view(client, created.token))


def _expiry_seen_by_a_request(client, created):
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert client.get(f"/s/{created.token}").status_code == 410


def _expiry_seen_by_purge(client, created):
    # The object stays (a delete that did not reach), yet the key material goes.
    from shares.services import purge

    original = photostore.delete_many
    purge.photostore.delete_many = lambda keys: dict.fromkeys(keys, "AccessDenied: no")
    try:
        with time_machine.travel(timezone.now() + timedelta(days=2)):
            result = services.shares_purge()
    finally:
        purge.photostore.delete_many = original
    assert result.failed == 1 and Share.objects.exists()


def _pin_lockout(client, created):
    for _ in range(5):
        view(client, created.token, pin="0000")


def _delete_now(client, created):
    assert client.post(f"/m/{created.manage_token}").status_code == 302


def _moderator_removal(client, created):
    services.share_remove(share_id=Share.objects.get().pk, actor=_a_moderator())


def _a_moderator():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="mod", is_staff=True)
    return user


ENDINGS = {
    "last view": _last_view,
    "expiry seen by a request": _expiry_seen_by_a_request,
    "expiry seen by purge": _expiry_seen_by_purge,
    "PIN lockout": _pin_lockout,
    "Delete now": _delete_now,
    "moderator removal": _moderator_removal,
}


@pytest.mark.parametrize("ending", ENDINGS)
def test_once_a_share_ends_the_link_and_a_copy_of_its_object_open_nothing(
    client, make_share, ending, django_capture_on_commit_callbacks
):
    created = make_share(views=1, pin="4821" if ending == "PIN lockout" else "")
    report_with_key(created.token, pin="4821" if ending == "PIN lockout" else "")
    share = Share.objects.get()
    salt = bytes(share.key_salt)
    copy = raw(share.photos.get().key)  # a backup, an old version, a replica
    secret = photostore.photo_secret(token=created.token, salt=salt)
    assert sealed_body(copy, secret=secret, key=share.photos.get().key)[:2] == b"\xff\xd8"

    with django_capture_on_commit_callbacks(execute=True):
        ENDINGS[ending](client, created)

    remaining = Share.objects.filter(pk=share.pk).first()
    if remaining is not None:
        assert remaining.key_salt is None
    assert not Report.objects.filter(wrapped_key__isnull=False).exists()
    assert salt not in database_dump()
    # Everything the link holder and the copy's holder have together opens nothing: the
    # key came from the link *and* the erased salt.
    assert view(client, created.token, pin="4821").status_code in (404, 410)
    if remaining is not None:
        with pytest.raises(services.ShareGone):
            services.moderation_preview(share_id=share.pk, actor=_a_moderator())


# --- altered objects ----------------------------------------------------------------------------


def _flip_first_chunk(share, other):
    data = bytearray(raw(share.photos.get().key))
    data[40] ^= 0x01
    overwrite(share.photos.get().key, bytes(data))


def _truncate(share, other):
    overwrite(share.photos.get().key, raw(share.photos.get().key)[:-20])


def _swap(share, other):
    overwrite(share.photos.get().key, raw(other.photos.get().key))


def _plain(share, other):
    overwrite(share.photos.get().key, jpeg_photo())


@pytest.mark.parametrize("alter", [_flip_first_chunk, _truncate, _swap, _plain])
def test_an_altered_object_answers_a_clear_error_spends_nothing_and_names_no_token(
    client, make_share, any_storage, alter, caplog, django_capture_on_commit_callbacks
):
    created = make_share(views=3)
    other = make_share(views=3).share
    share = Share.objects.get(pk=created.share.pk)
    alter(share, other)
    caplog.set_level(logging.ERROR)
    with django_capture_on_commit_callbacks(execute=True):
        response = view(client, created.token)
    assert response.status_code == 410
    assert response.json()["reason"] == EndReason.DAMAGED
    assert "image" not in response["Content-Type"]
    share.refresh_from_db()
    assert share.views_used == 0 and share.views.count() == 0  # nothing spent
    assert share.end_reason == EndReason.DAMAGED and share.key_salt is None
    assert "fails authentication" in caplog.text and created.token not in caplog.text
    html = client.post(f"/s/{created.token}")
    assert html.status_code == 410 and "no longer available" in html.content.decode()


@pytest.mark.django_db(transaction=True)  # gunicorn, as deployed, answers the view
def test_damage_found_partway_cuts_the_connection_and_ends_the_share(tmp_path):
    import requests

    from .deployed import gunicorn

    photo = _encode(camera_picture((1600, 1200)), "JPEG", quality=95)
    with gunicorn(tmp_path) as server:
        created = requests.post(
            f"{server.url}/api/shares",
            files={"photo": ("a.jpg", photo)},
            data={"views": "3"},
            timeout=30,
        )
        assert created.status_code == 201
        token = created.json()["url"].rsplit("/", 1)[1]
        share = Share.objects.get()
        path = tmp_path / "photos" / share.photos.get().key
        data = bytearray(path.read_bytes())
        assert len(data) > 3 * (CHUNK + 17)
        data[33 + 2 * (CHUNK + 17) + 10] ^= 0x01  # inside the third chunk
        path.write_bytes(bytes(data))

        url = urlsplit(server.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("POST", f"/s/{token}")
        response = conn.getresponse()
        assert response.status == 200  # the first chunk was sound: the view is spent
        length = int(response.getheader("Content-Length"))
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        conn.close()
        # Never a clean end that a viewer could take for the whole photo.
        assert len(cut.value.partial) < length
        assert len(cut.value.partial) < 3 * CHUNK
        # The worker logs the failure a moment after cutting the stream.
        assert wait_for(lambda: "fails authentication partway" in server.logs())
        logs = server.logs()
    share.refresh_from_db()
    assert share.views_used == 1  # spent, as a view whose viewer went away midway is
    assert share.end_reason == EndReason.DAMAGED and share.key_salt is None
    assert "fails authentication partway" in logs and token not in logs


# --- moderation ----------------------------------------------------------------------------


def test_a_reported_share_previews_and_an_unreported_one_cannot_both_audited(
    moderator_client, moderator, make_share
):
    photo = jpeg_photo(size=(120, 90))
    reported = make_share(views=1, photo=photo)
    unreported = make_share(views=1)
    report_with_key(reported.token)
    assert Report.objects.get().wrapped_key is not None

    ok = moderator_client.post(f"/admin/shares/share/{reported.share.pk}/preview/")
    assert ok.status_code == 200 and ok["Content-Type"] == "image/jpeg"
    served_photo = served(view(moderator_client, reported.token))
    assert b"".join(ok.streaming_content) == served_photo

    page = moderator_client.get(f"/admin/shares/share/{unreported.share.pk}/preview/")
    text = page.content.decode()
    assert "Nobody has reported this share" in text and "Show the photo" not in text
    assert "only its link holds" in text
    for data in ({}, {"view_unreported": "yes"}):  # the old way in is gone
        refused = moderator_client.post(f"/admin/shares/share/{unreported.share.pk}/preview/", data)
        assert refused.status_code == 400 and "image" not in refused["Content-Type"]
    with pytest.raises(services.PreviewRefused):
        services.moderation_preview(share_id=unreported.share.pk, actor=moderator)

    events = ModerationEvent.objects.order_by("pk")
    assert [(e.action, e.share_number) for e in events] == [
        (ModerationAction.PREVIEWED, reported.share.pk),
        (ModerationAction.PREVIEW_REFUSED, unreported.share.pk),
        (ModerationAction.PREVIEW_REFUSED, unreported.share.pk),
        (ModerationAction.PREVIEW_REFUSED, unreported.share.pk),
    ]
    assert Share.objects.get(pk=unreported.share.pk).views_used == 0


def test_a_pin_share_reported_with_its_pin_opens_for_moderators(
    client, moderator_client, make_share
):
    created = make_share(views=1, pin="4821")
    page = client.get(f"/s/{created.token}/report")
    assert 'name="pin"' in page.content.decode()
    response = client.post(f"/s/{created.token}/report", {"reason": "illegal", "pin": "4821"})
    assert response.status_code == 201
    assert Report.objects.get().wrapped_key is not None
    preview = moderator_client.post(f"/admin/shares/share/{created.share.pk}/preview/")
    assert preview.status_code == 200 and served(preview)[:2] == b"\xff\xd8"


def test_a_pin_share_reported_without_its_pin_keeps_the_report_but_cannot_be_opened(
    client, moderator_client, make_share
):
    created = make_share(views=1, pin="4821")
    response = client.post(f"/s/{created.token}/report", {"reason": "illegal"})
    assert response.status_code == 201
    report = Report.objects.get()
    assert report.wrapped_key is None
    page = moderator_client.get(f"/admin/shares/share/{created.share.pk}/preview/")
    assert "cannot be opened" in page.content.decode()
    refused = moderator_client.post(f"/admin/shares/share/{created.share.pk}/preview/")
    assert refused.status_code == 400


def test_a_wrong_pin_on_the_report_form_counts_and_stores_nothing(client, make_share):
    created = make_share(views=1, pin="4821")
    response = client.post(f"/s/{created.token}/report", {"reason": "illegal", "pin": "1111"})
    assert response.status_code == 403
    text = response.content.decode()
    assert "Wrong PIN. 4 attempts left" in text and "leave it empty" in text
    assert not Report.objects.exists()
    assert Share.objects.get().pin_failures == 1
    api = client.post(
        f"/s/{created.token}/report",
        {"reason": "illegal", "pin": "2222"},
        HTTP_ACCEPT="application/json",
    )
    assert api.status_code == 403 and api.json()["attempts_left"] == 3


def test_a_wrapped_key_opens_only_for_its_own_share_and_the_current_moderation_key(
    settings,
):
    secret = os.urandom(32)
    wrapped = keyed.moderation_wrap(secret, share_id=7)
    assert secret not in wrapped
    assert keyed.moderation_unwrap(wrapped, share_id=7) == secret
    with pytest.raises(keyed.UnwrapFailed):
        keyed.moderation_unwrap(wrapped, share_id=8)
    settings.SEEN_MODERATION_KEY = "m" * 40
    with pytest.raises(keyed.UnwrapFailed):
        keyed.moderation_unwrap(wrapped, share_id=7)


# --- shares from before encryption -------------------------------------------------------------


@pytest.fixture
def plain_share(make_share, any_storage):
    """A share as it was stored before this change: a plain object, no salt."""
    created = make_share(views=3, photo=jpeg_photo(size=(90, 60)))
    share = Share.objects.get()
    secret = photostore.photo_secret(token=created.token, salt=bytes(share.key_salt))
    photo = sealed_body(raw(share.photos.get().key), secret=secret, key=share.photos.get().key)
    overwrite(share.photos.get().key, photo)
    Share.objects.filter(pk=share.pk).update(encrypted=False, key_salt=None)
    return created, photo


def test_a_plain_share_from_before_still_views_purges_and_previews(
    client, plain_share, moderator_client, django_capture_on_commit_callbacks
):
    created, photo = plain_share
    share = Share.objects.get()
    assert raw(share.photos.get().key) == photo
    first = view(client, created.token)
    assert first.status_code == 200 and served(first) == photo
    report_with_key(created.token)
    assert Report.objects.get().wrapped_key is None  # nothing to wrap: it is plain
    preview = moderator_client.post(f"/admin/shares/share/{share.pk}/preview/")
    assert preview.status_code == 200 and served(preview) == photo
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            assert served(view(client, created.token)) == photo
    assert stored_keys() == []
    call_command("purge", verbosity=0)
    assert not Share.objects.exists()
