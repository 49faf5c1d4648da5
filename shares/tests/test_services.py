import io
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shares import services
from shares.models import EndReason, Photo, Share, ShareView, token_hash

from .helpers import jpeg_bytes, stored_keys

# Not transaction=True: the photo deletions that wait for a commit run inside
# django_capture_on_commit_callbacks(execute=True), at the point they would have committed.
pytestmark = pytest.mark.django_db


def test_it_stores_the_photo_and_only_hashes_of_the_tokens(make_share):
    created = make_share(views=3, pin="4821")
    share = Share.objects.get()
    assert share.token_hash == token_hash(created.token)
    assert share.manage_token_hash == token_hash(created.manage_token)
    assert share.view_limit == 3
    assert stored_keys() == [share.photos.get().key]
    assert len(created.token) >= 22  # at least 128 bits of token_urlsafe


def test_the_database_never_holds_a_plain_token_or_pin(make_share):
    created = make_share(pin="90417733")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM shares_share")
        row = " ".join(str(value) for value in cursor.fetchone())
    assert created.token not in row
    assert created.manage_token not in row
    assert "90417733" not in row


def test_a_view_spends_one_and_the_last_view_ends_the_share(make_share):
    created = make_share(views=3)
    remaining = [services.share_view(token=created.token).views_remaining for _ in range(3)]
    assert remaining == [2, 1, 0]
    share = Share.objects.get()
    assert share.views_used == 3
    assert share.end_reason == EndReason.VIEWED
    assert ShareView.objects.count() == 3
    with pytest.raises(services.ShareGone):
        services.share_view(token=created.token)


def test_unlimited_shares_never_run_out(make_share):
    created = make_share(views=0)
    for _ in range(12):
        assert services.share_view(token=created.token).views_remaining is None
    assert Share.objects.get().ended_at is None


def test_it_locks_the_row_while_spending_a_view(make_share):
    created = make_share(views=3)
    with CaptureQueriesContext(connection) as queries:
        services.share_view(token=created.token)
    if connection.vendor == "postgresql":
        assert any(
            "FOR UPDATE" in q["sql"] and "shares_share" in q["sql"]
            for q in queries.captured_queries
        )
    else:
        # SQLite has no FOR UPDATE: the atomic block takes the write lock with BEGIN IMMEDIATE.
        assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_a_wrong_pin_is_refused_and_counted(make_share):
    created = make_share(views=1, pin="1234")
    with pytest.raises(services.WrongPin) as caught:
        services.share_view(token=created.token, pin="9999")
    assert caught.value.attempts_left == 4
    share = Share.objects.get()
    assert (share.pin_failures, share.views_used) == (1, 0)
    assert services.share_view(token=created.token, pin="1234").views_remaining == 0


class NoAttemptCounted:
    """A client's PIN counter that fails the test if anything is counted."""

    def reserve(self) -> None:
        raise AssertionError("a PIN attempt was counted")

    release = reserve


@pytest.mark.parametrize("pin", ["", None], ids=["empty", "not sent"])
def test_a_missing_pin_is_asked_for_and_counted_nowhere(make_share, pin):
    created = make_share(views=1, pin="1234")
    arguments = {} if pin is None else {"pin": pin}
    for _ in range(settings.SEEN_MAX_PIN_FAILURES + 1):
        with pytest.raises(services.PinRequired) as caught:
            services.share_view(token=created.token, pin_attempts=NoAttemptCounted(), **arguments)
        assert caught.value.share.pk == created.share.pk
    share = Share.objects.get()
    assert (share.pin_failures, share.views_used, share.ended_at) == (0, 0, None)
    assert services.share_view(token=created.token, pin="1234").views_remaining == 0


def test_five_wrong_pins_end_the_share_and_delete_the_photo(
    make_share, django_capture_on_commit_callbacks
):
    created = make_share(views=3, pin="1234")
    for attempts_left in (4, 3, 2, 1, 0):
        with (
            django_capture_on_commit_callbacks(execute=True),
            pytest.raises(services.WrongPin) as caught,
        ):
            services.share_view(token=created.token, pin="0000")
        assert caught.value.attempts_left == attempts_left
    share = Share.objects.get()
    assert share.end_reason == EndReason.PIN
    assert share.photo_deleted_at is not None
    assert stored_keys() == []
    with pytest.raises(services.ShareGone):
        services.share_view(token=created.token, pin="1234")


def test_an_expired_share_cannot_be_viewed(make_share):
    created = make_share(views=5, expires_in=3600)
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        with pytest.raises(services.ShareGone):
            services.share_get(token=created.token)
        with pytest.raises(services.ShareGone):
            services.share_view(token=created.token)
    assert Share.objects.get().views_used == 0


def test_unknown_tokens_are_not_found(db):
    with pytest.raises(services.ShareNotFound):
        services.share_view(token="x" * 32, pin="1234")


def test_the_last_view_deletes_the_photo_only_when_the_stream_closes(make_share, any_storage):
    created = make_share(views=1)
    stream = services.share_view(token=created.token).stream
    assert len(stored_keys()) == 1  # still there while it is being sent
    data = b"".join(iter(lambda: stream.read(1024), b""))
    assert data[:2] == b"\xff\xd8"
    stream.close()
    assert stored_keys() == []
    assert Share.objects.get().photo_deleted_at is not None


def test_the_photo_stays_until_every_spent_view_has_been_delivered(make_share, any_storage):
    created = make_share(views=3)
    services.share_view(token=created.token).stream.close()  # delivered earlier
    first_stream = services.share_view(token=created.token).stream
    last_stream = services.share_view(token=created.token).stream
    last_stream.read()
    last_stream.close()
    # The first viewer spent a view before the last one finished: it must still get the photo.
    assert len(stored_keys()) == 1
    assert first_stream.read()[:2] == b"\xff\xd8"
    first_stream.close()
    assert stored_keys() == []
    assert Share.objects.get().streams_open == 0


def test_a_missing_photo_ends_the_share_and_spends_nothing(make_share, s3):
    created = make_share(views=3)
    share = Share.objects.get()
    s3.delete_object(Bucket="seen-test", Key=share.photos.get().key)
    with pytest.raises(services.PhotoMissing):
        services.share_view(token=created.token)
    share = Share.objects.get()
    assert share.end_reason == EndReason.MISSING
    assert (share.views_used, share.streams_open) == (0, 0)


def test_revoke_ends_the_share_and_deletes_the_photo(
    make_share, any_storage, django_capture_on_commit_callbacks
):
    created = make_share(views=5)
    with django_capture_on_commit_callbacks(execute=True):
        services.share_revoke(manage_token=created.manage_token)
    share = Share.objects.get()
    assert share.end_reason == EndReason.REVOKED
    assert stored_keys() == []
    with pytest.raises(services.ShareGone):
        services.share_view(token=created.token)


def test_a_failed_upload_leaves_no_row(db, monkeypatch):
    def broken_save(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", broken_save)
    with pytest.raises(services.StorageUnavailable):
        services.share_create(photos=[io.BytesIO(jpeg_bytes())], views=1, expires_in=86400)
    assert Share.objects.count() == 0


def test_a_failed_insert_leaves_no_object(db, monkeypatch):
    def broken_create(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Photo.objects, "bulk_create", broken_create)
    with pytest.raises(RuntimeError):
        services.share_create(
            photos=[io.BytesIO(jpeg_bytes()), io.BytesIO(jpeg_bytes())], views=1, expires_in=86400
        )
    assert stored_keys() == []
    assert Share.objects.count() == 0


# --- a row that a concurrent purge deletes -------------------------------------------------


@pytest.fixture
def purged_while_opening(monkeypatch):
    """Purge deletes the share's row between the first look and the view's write (while
    its photo is being opened), as a purge running at that moment would."""
    from shares import photostore

    open_photo = photostore.open_photo

    def open_then_purge(key, **kwargs):
        body = open_photo(key, **kwargs)
        Share.objects.filter(photos__key=key).delete()
        return body

    monkeypatch.setattr(photostore, "open_photo", open_then_purge)


@pytest.mark.parametrize("views", [3, 0], ids=["limited", "unlimited"])
def test_a_share_purged_during_its_view_is_gone_not_an_error(
    make_share, purged_while_opening, views
):
    created = make_share(views=views)
    with pytest.raises(services.ShareGone) as gone:
        services.share_view(token=created.token)
    assert gone.value.share.over_reason == EndReason.MISSING  # "no longer available"


def test_a_share_purged_during_a_wrong_pin_is_gone_not_an_error(make_share, monkeypatch):
    from shares import keyed

    created = make_share(views=3, pin="4821")

    def purged_then_wrong(pin, pin_hash):
        Share.objects.all().delete()
        return False

    monkeypatch.setattr(keyed, "pin_matches", purged_then_wrong)
    with pytest.raises(services.ShareGone):
        services.share_view(token=created.token, pin="0000")


# --- a share that expires between the first look and the lock --------------------------


def expire_all():
    Share.objects.update(expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.parametrize("views", [3, 0], ids=["limited", "unlimited"])
def test_a_share_that_expires_during_its_view_is_gone_and_shredded(make_share, monkeypatch, views):
    from shares import photostore

    created = make_share(views=views)
    open_photo = photostore.open_photo

    def open_then_expire(key, **kwargs):
        body = open_photo(key, **kwargs)
        expire_all()
        return body

    monkeypatch.setattr(photostore, "open_photo", open_then_expire)
    with pytest.raises(services.ShareGone) as gone:
        services.share_view(token=created.token)
    assert gone.value.share.over_reason == EndReason.EXPIRED
    share = Share.objects.get()
    # The refusal rolled back its own transaction, not the erasing of the key.
    assert share.key_salt is None and share.views_used == 0


def test_a_share_that_expires_during_a_wrong_pin_is_gone_and_shredded(make_share, monkeypatch):
    from shares import keyed

    created = make_share(views=3, pin="4821")

    def expired_then_wrong(pin, pin_hash):
        expire_all()
        return False

    monkeypatch.setattr(keyed, "pin_matches", expired_then_wrong)
    with pytest.raises(services.ShareGone):
        services.share_view(token=created.token, pin="0000")
    share = Share.objects.get()
    assert share.key_salt is None and share.pin_failures == 0


def test_ending_a_purged_share_says_it_is_not_found(make_share):
    share = make_share().share
    Share.objects.all().delete()
    with pytest.raises(services.ShareNotFound):
        services.share_end(share_id=share.pk, reason=EndReason.REVOKED)


def test_a_share_purged_while_its_missing_photo_is_found_missing_answers_410(
    make_share, monkeypatch, client
):
    from shares import photostore

    created = make_share()

    def purged_and_missing(key, **kwargs):
        Share.objects.all().delete()
        raise photostore.PhotoMissing(key)

    monkeypatch.setattr(photostore, "open_photo", purged_and_missing)
    response = client.post(f"/s/{created.token}", HTTP_ACCEPT="application/json")
    assert response.status_code == 410
    assert response.json()["reason"] == "missing"


def test_a_view_answers_410_when_purge_deleted_the_row_meanwhile(
    make_share, purged_while_opening, client
):
    created = make_share(views=3)
    response = client.post(f"/s/{created.token}", HTTP_ACCEPT="application/json")
    assert response.status_code == 410


# --- ending a share while a view of it is being sent ----------------------------------------


@pytest.mark.parametrize("end", ["revoke", "pin lockout", "moderator removal"])
def test_a_view_being_sent_when_the_share_ends_gets_every_byte_then_the_photo_goes(
    make_share, settings, end
):
    from django.contrib.auth.models import User

    photo = jpeg_bytes(size=(300, 200))
    created = make_share(views=3, pin="4821", photo=photo)
    viewed = services.share_view(token=created.token, pin="4821")
    first = viewed.stream.read(100)

    if end == "revoke":
        services.share_revoke(manage_token=created.manage_token)
    elif end == "pin lockout":
        for _ in range(settings.SEEN_MAX_PIN_FAILURES):
            with pytest.raises((services.WrongPin, services.ShareGone)):
                services.share_view(token=created.token, pin="0000")
    else:
        moderator = User.objects.create(username="moderator")
        services.share_remove(share_id=created.share.pk, actor=moderator)

    share = Share.objects.get()
    assert share.ended_at is not None
    assert stored_keys() == [share.photos.get().key]  # still there: a view is being sent
    rest = viewed.stream.read()
    assert len(first + rest) == share.photos.get().size_bytes
    viewed.stream.close()
    assert stored_keys() == []
    assert Share.objects.get().photo_deleted_at is not None


def test_a_share_ended_with_no_view_being_sent_loses_its_photo_at_once(
    make_share, django_capture_on_commit_callbacks
):
    created = make_share(views=3)
    services.share_view(token=created.token).stream.close()
    with django_capture_on_commit_callbacks(execute=True):
        services.share_revoke(manage_token=created.manage_token)
    assert stored_keys() == []
