"""The domain operations: the only code that changes a Share.

Each function opens its own transaction. Slow I/O (storage) never happens while a row
is locked: photos are uploaded before the row exists and deleted after the transaction
that ended the share has committed.
"""

import functools
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Callable

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import images
from .models import EndReason, Share, ShareView, token_hash

log = logging.getLogger(__name__)

VIEW_CHOICES = (1, 3, 5, 10, 0)  # 0 means unlimited
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


@functools.cache
def _dummy_pin_hash() -> str:
    # Compared against when a token is unknown, so a PIN check costs the same either way.
    return make_password("not-a-pin")


class ShareNotFound(Exception):
    pass


class ShareGone(Exception):
    def __init__(self, share: Share):
        super().__init__(share.end_reason or "expired")
        self.share = share


class WrongPin(Exception):
    def __init__(self, attempts_left: int):
        super().__init__(f"wrong PIN, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class StorageUnavailable(Exception):
    pass


@dataclass(frozen=True)
class CreatedShare:
    share: Share
    token: str
    manage_token: str
    removed_metadata: tuple[str, ...]


@dataclass(frozen=True)
class ViewedPhoto:
    share_id: int
    photo_key: str
    content_type: str
    size_bytes: int
    views_remaining: int | None  # None: unlimited
    prevent_download: bool

    @property
    def is_limited(self) -> bool:
        return self.views_remaining is not None


def new_token() -> str:
    # 24 random bytes: 192 bits, 32 URL-safe characters.
    return secrets.token_urlsafe(24)


def share_create(
    *,
    photo: IO[bytes],
    views: int,
    expires_in: int,
    pin: str = "",
    prevent_download: bool = False,
) -> CreatedShare:
    """Validate and clean the photo, store it, then create the share.

    Raises images.InvalidPhoto for a bad photo and StorageUnavailable when the store
    cannot be written. Either way nothing is left behind.
    """
    if views not in VIEW_CHOICES:
        raise ValueError(f"views must be one of {VIEW_CHOICES}")
    if expires_in not in settings.SEEN_EXPIRY_CHOICES:
        raise ValueError(f"expires_in must be one of {settings.SEEN_EXPIRY_CHOICES}")

    clean = images.clean_photo(photo, max_pixels=settings.SEEN_MAX_PIXELS)
    key = f"photos/{secrets.token_hex(16)}.{clean.extension}"
    try:
        key = default_storage.save(key, ContentFile(clean.data))
    except STORAGE_ERRORS as exc:
        log.error("photo upload failed: %s", exc.__class__.__name__)
        raise StorageUnavailable from exc

    token, manage_token = new_token(), new_token()
    now = timezone.now()
    try:
        with transaction.atomic():
            share = Share.objects.create(
                token_hash=token_hash(token),
                manage_token_hash=token_hash(manage_token),
                photo_key=key,
                content_type=clean.content_type,
                size_bytes=len(clean.data),
                width=clean.width,
                height=clean.height,
                view_limit=views or None,
                pin_hash=make_password(pin) if pin else "",
                prevent_download=prevent_download,
                created_at=now,
                expires_at=now + timedelta(seconds=expires_in),
            )
    except BaseException:
        _delete_object_quietly(key)
        raise
    return CreatedShare(
        share=share, token=token, manage_token=manage_token, removed_metadata=clean.removed
    )


def share_get(*, token: str) -> Share:
    """The share behind a link, for showing its page. Raises ShareNotFound or ShareGone."""
    share = Share.objects.filter(token_hash=token_hash(token)).first()
    if share is None:
        raise ShareNotFound
    if share.is_over:
        raise ShareGone(share)
    return share


def share_view(*, token: str, pin: str = "") -> ViewedPhoto:
    """Check the PIN and spend one view. Exactly view_limit calls ever succeed.

    Raises ShareNotFound, ShareGone or WrongPin; after too many wrong PINs the share
    ends and its photo is deleted.
    """
    digest = token_hash(token)
    share = Share.objects.filter(token_hash=digest).first()
    if share is None:
        check_password(pin, _dummy_pin_hash())
        raise ShareNotFound
    if share.is_over:
        raise ShareGone(share)
    # The PIN hash is slow on purpose, so it is checked before the row is locked.
    if share.pin_hash and not check_password(pin, share.pin_hash):
        _pin_failed(share.pk)

    with transaction.atomic():
        # Lock the row: many viewers may race for the last view.
        share = Share.objects.select_for_update().get(pk=share.pk)
        if share.is_over:
            raise ShareGone(share)
        share.views_used += 1
        fields = ["views_used"]
        if share.view_limit is not None:
            share.streams_open += 1
            fields.append("streams_open")
        if share.view_limit is not None and share.views_used >= share.view_limit:
            share.ended_at = timezone.now()
            share.end_reason = EndReason.VIEWED
            fields += ["ended_at", "end_reason"]
        share.save(update_fields=fields)
        ShareView.objects.create(share=share)
    return ViewedPhoto(
        share_id=share.pk,
        photo_key=share.photo_key,
        content_type=share.content_type,
        size_bytes=share.size_bytes,
        views_remaining=share.views_left,
        prevent_download=share.prevent_download,
    )


def _pin_failed(share_id: int) -> None:
    with transaction.atomic():
        share = Share.objects.select_for_update().get(pk=share_id)
        if share.is_over:
            raise ShareGone(share)
        share.pin_failures += 1
        attempts_left = max(settings.SEEN_MAX_PIN_FAILURES - share.pin_failures, 0)
        fields = ["pin_failures"]
        if attempts_left == 0:
            share.ended_at = timezone.now()
            share.end_reason = EndReason.PIN
            fields += ["ended_at", "end_reason"]
            _delete_photo_on_commit(share)
        share.save(update_fields=fields)
    raise WrongPin(attempts_left)


class PhotoMissing(Exception):
    pass


class PhotoStream:
    """A photo's bytes read from storage in chunks, with a hook that runs on close.

    The hook runs when the HTTP response is closed, i.e. after the last byte was sent
    (or the client went away): that is when a share's last view is over.
    """

    def __init__(self, body, on_close: Callable[[], None] | None = None):
        self._body = body
        self._on_close = on_close
        self._closed = False
        if hasattr(body, "fileno"):
            # Local files: lets the server use sendfile().
            self.fileno = body.fileno

    def read(self, size: int = -1) -> bytes:
        return self._body.read(size)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._body.close()
        finally:
            if self._on_close is not None:
                self._on_close()


def photo_open(viewed: ViewedPhoto) -> PhotoStream:
    """Open a viewed photo for streaming. Closing the stream of a limited share's last
    delivered view deletes the photo.

    If the object is missing, the share ends (there is nothing left to show) and
    PhotoMissing is raised.
    """
    on_close = None
    if viewed.is_limited:
        def on_close() -> None:
            _stream_finished(viewed.share_id)
    try:
        body = _open_object(viewed.photo_key)
    except (FileNotFoundError, PhotoMissing):
        share_end(share_id=viewed.share_id, reason=EndReason.MISSING)
        if on_close is not None:
            on_close()
        raise PhotoMissing from None
    return PhotoStream(body, on_close)


def _stream_finished(share_id: int) -> None:
    """A limited share's view has been sent. Once the share has ended and no other view
    is still being sent, its photo is deleted."""
    with transaction.atomic():
        share = Share.objects.select_for_update().filter(pk=share_id).first()
        if share is None:
            return
        share.streams_open = max(share.streams_open - 1, 0)
        share.save(update_fields=["streams_open"])
        delete_now = (
            share.ended_at is not None and share.streams_open == 0 and share.photo_deleted_at is None
        )
    if delete_now:
        photo_delete(share_id=share.pk, photo_key=share.photo_key)


def _open_object(key: str):
    storage = default_storage
    bucket = getattr(storage, "bucket", None)
    if bucket is None:
        return storage.open(key, "rb")
    # django-storages' S3File downloads the whole object before the first read; a GET's
    # body streams, so a 25 MB photo never sits in a worker's memory.
    try:
        return bucket.Object(key).get()["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            raise PhotoMissing from None
        raise


def share_revoke(*, manage_token: str) -> Share:
    """The sender deletes the share: it ends now and its photo is deleted."""
    share = Share.objects.filter(manage_token_hash=token_hash(manage_token)).first()
    if share is None:
        raise ShareNotFound
    return share_end(share_id=share.pk, reason=EndReason.REVOKED)


def share_end(*, share_id: int, reason: str) -> Share:
    """End a share (if it has not ended yet) and delete its photo once that commits."""
    with transaction.atomic():
        share = Share.objects.select_for_update().get(pk=share_id)
        if share.ended_at is None:
            share.ended_at = timezone.now()
            share.end_reason = reason
            share.save(update_fields=["ended_at", "end_reason"])
        if share.photo_deleted_at is None:
            _delete_photo_on_commit(share)
    return share


def shares_end(*, share_ids: list[int], reason: str) -> int:
    """End several shares (the admin's "delete now"); returns how many."""
    for share_id in share_ids:
        share_end(share_id=share_id, reason=reason)
    return len(share_ids)


def _delete_photo_on_commit(share: Share) -> None:
    share_id, key = share.pk, share.photo_key
    transaction.on_commit(lambda: photo_delete(share_id=share_id, photo_key=key))


def photo_delete(*, share_id: int, photo_key: str) -> bool:
    """Delete a share's photo from storage and record it. A failure is logged and left
    for purge to retry; it never reaches the viewer."""
    try:
        default_storage.delete(photo_key)
    except STORAGE_ERRORS as exc:
        log.warning("could not delete the photo of share %s: %s", share_id, exc)
        Share.objects.filter(pk=share_id).update(
            delete_failures=F("delete_failures") + 1, last_delete_error=str(exc)[:500]
        )
        return False
    Share.objects.filter(pk=share_id).update(photo_deleted_at=timezone.now())
    return True


def _delete_object_quietly(key: str) -> None:
    try:
        default_storage.delete(key)
    except STORAGE_ERRORS as exc:
        log.warning("could not delete an orphaned photo: %s", exc)


@dataclass(frozen=True)
class PurgeResult:
    shares: int
    objects: int
    failed: int


def shares_purge(*, dry_run: bool = False, batch_size: int = 500) -> PurgeResult:
    """Delete every ended or expired share and its photo. A share whose photo cannot be
    deleted keeps its row, so the next run tries again."""
    purged = objects = failed = 0
    last_pk = 0
    while True:
        batch = list(
            Share.objects.ended()
            .filter(pk__gt=last_pk)
            .order_by("pk")
            .values("pk", "photo_key", "photo_deleted_at")[:batch_size]
        )
        if not batch:
            break
        last_pk = batch[-1]["pk"]
        if dry_run:
            purged += len(batch)
            objects += sum(1 for row in batch if row["photo_deleted_at"] is None)
            continue
        done = []
        for row in batch:
            if row["photo_deleted_at"] is None:
                if not photo_delete(share_id=row["pk"], photo_key=row["photo_key"]):
                    failed += 1
                    continue
                objects += 1
            done.append(row["pk"])
        Share.objects.filter(pk__in=done).delete()
        purged += len(done)
    return PurgeResult(shares=purged, objects=objects, failed=failed)
