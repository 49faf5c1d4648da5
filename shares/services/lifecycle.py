"""A share's life: create it, show and view it, revoke or end it, and delete its photo
once nobody can view it and no view of it is still being sent.

Each function opens its own transaction. Slow I/O (storage) never happens while a row
is locked: photos are uploaded before the row exists and deleted after the transaction
that ended the share has committed.
"""

import contextlib
import functools
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .. import images, keyed, photostore
from ..models import EndReason, Report, Share, ShareView, token_hash
from .errors import (
    PhotoDamaged,
    PhotoMissing,
    PinRequired,
    ShareGone,
    ShareNotFound,
    ShareSuspended,
    WrongPin,
)

log = logging.getLogger(__name__)

VIEW_CHOICES = (1, 3, 5, 10, 0)  # 0 means unlimited

# Every photo key starts with this; purge --orphans lists only this prefix.
PHOTO_PREFIX = "photos/"


class PinAttempts(Protocol):
    """The caller's count of a client's PIN attempts (across shares), kept outside the
    share: reserve() counts one attempt before the PIN is checked, or raises when the
    client has used them all; release() gives it back when the PIN was right."""

    def reserve(self) -> None: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class CreatedShare:
    share: Share
    token: str
    manage_token: str
    removed_metadata: tuple[str, ...]


@dataclass(frozen=True)
class ViewedPhoto:
    share_id: int
    stream: "PhotoStream"  # the caller sends it and must close it
    content_type: str
    size_bytes: int
    views_remaining: int | None  # None: unlimited
    prevent_download: bool


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

    clean = images.clean_photo(
        photo,
        max_pixels=settings.SEEN_MAX_PIXELS,
        max_decode_bytes=settings.SEEN_MAX_DECODE_BYTES,
        decodes_at_once=settings.SEEN_DECODE_CONCURRENCY,
    )
    key = f"{PHOTO_PREFIX}{secrets.token_hex(16)}.{clean.extension}"
    token, manage_token = new_token(), new_token()
    salt = photostore.new_salt()
    photostore.save(
        key=key, data=clean.data, secret=photostore.photo_secret(token=token, salt=salt)
    )

    now = timezone.now()
    try:
        with transaction.atomic():
            share = Share.objects.create(
                token_hash=token_hash(token),
                manage_token_hash=token_hash(manage_token),
                photo_key=key,
                encrypted=True,
                key_salt=salt,
                content_type=clean.content_type,
                size_bytes=len(clean.data),
                width=clean.width,
                height=clean.height,
                view_limit=views or None,
                pin_hash=keyed.pin_hash(pin) if pin else "",
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


def _purged(share_id: int) -> ShareGone:
    """The answer for a row that a concurrent purge deleted after it was read. Purge deletes
    only shares that are over, so the share is gone; why is no longer known, and "no longer
    available" is true whatever it was."""
    return ShareGone(Share(pk=share_id, end_reason=EndReason.MISSING))


def _lock(share_id: int) -> Share:
    """The share's row, locked; ShareGone when purge has deleted it since it was read."""
    share = Share.objects.select_for_update().filter(pk=share_id).first()
    if share is None:
        raise _purged(share_id)
    return share


def _refuse_unviewable(share: Share) -> None:
    if share.is_over:
        if share.key_salt is not None:
            shred_expired(share)
        raise ShareGone(share)
    if share.suspended_at is not None:
        raise ShareSuspended(share)


def _share_by_token(token: str) -> Share | None:
    # token_hash is unique: a slice without .first()'s ORDER BY, whose compiling was a
    # fifth of this query's Python on the view path (py-spy --gil).
    return next(iter(Share.objects.filter(token_hash=token_hash(token))[:1]), None)


def share_get(*, token: str) -> Share:
    """The share behind a link, for showing its page. Raises ShareNotFound, ShareGone or
    ShareSuspended."""
    share = _share_by_token(token)
    if share is None:
        raise ShareNotFound
    _refuse_unviewable(share)
    return share


def share_view(
    *, token: str, pin: str = "", pin_attempts: PinAttempts | None = None
) -> ViewedPhoto:
    """Check the PIN, open the photo, then spend one view. Exactly view_limit calls ever
    succeed, and a view is spent only when its photo can be sent.

    Raises ShareNotFound, ShareGone, ShareSuspended, PinRequired (no PIN sent to a share
    that has one: nothing is counted) or WrongPin; after too many wrong PINs the share
    ends and its photo is deleted. A suspended share spends neither a view nor a PIN
    attempt. An unknown link costs no hash: the 404 already says that it
    does not exist, so there is nothing for equal timing to hide. Raises PhotoMissing
    (and ends the share) when its photo is gone from storage, PhotoDamaged (a kind of
    PhotoMissing, and it ends the share too) when the stored object fails
    authentication, and StorageUnavailable, with nothing spent, when the store fails.
    None of these spends a view.

    pin_attempts, when given, counts the attempt before the PIN is checked (and whatever
    it raises when the client has none left passes through), so that many wrong PINs
    sent at once cannot all be checked before the first one is counted.
    """
    share = _share_by_token(token)
    if share is None:
        raise ShareNotFound
    _refuse_unviewable(share)
    pin_check(share, pin=pin, pin_attempts=pin_attempts)

    # Open first: on S3 the answer's headers are in when this returns, and a sealed
    # photo's first chunk has been authenticated, so a store that fails (down, access
    # denied, a folder we may not read) costs the viewer nothing, and neither does an
    # object that is missing or is not this photo (which ends the share: it can never be
    # delivered).
    body = open_share_photo(share, secret=share_secret(share, token=token))
    try:
        limited = share.view_limit is not None
        if limited:
            share = _spend_limited_view(share.pk)
        else:
            _spend_unlimited_view(share)
        on_close = functools.partial(_view_sent, share.pk, body, limited=limited)
    except BaseException:
        body.close()
        raise
    return ViewedPhoto(
        share_id=share.pk,
        stream=PhotoStream(body, on_close),
        content_type=share.content_type,
        size_bytes=share.size_bytes,
        views_remaining=share.views_left,
        prevent_download=share.prevent_download,
    )


def pin_check(share: Share, *, pin: str, pin_attempts: PinAttempts | None) -> None:
    """Nothing for a share without a PIN; otherwise PinRequired when no PIN was sent, or
    WrongPin (counted against the share, which ends after too many, and against the
    client through pin_attempts) when it is not the share's."""
    if not share.pin_hash:
        return
    if not pin:
        # Nothing to check, so nothing to count: a missing PIN (a form sent before it
        # was filled in, a script that forgot it) must not use up the share's attempts
        # or the client's, which only PINs that were checked and wrong may do.
        raise PinRequired(share)
    if pin_attempts is not None:
        pin_attempts.reserve()
    if not keyed.pin_matches(pin, share.pin_hash):
        _pin_failed(share.pk)
    if pin_attempts is not None:
        pin_attempts.release()


def share_secret(share: Share, *, token: str) -> bytes | None:
    """The key of the share's photo, from its link (None for a plain share from before
    encryption). ShareGone once the salt has been erased."""
    if not share.encrypted:
        return None
    if share.key_salt is None:
        raise ShareGone(share)
    return photostore.photo_secret(token=token, salt=bytes(share.key_salt))


def open_share_photo(share: Share, *, secret: bytes | None) -> photostore.PhotoBody:
    """Open the share's photo; one that is missing or damaged ends the share (it can never
    be delivered) before PhotoMissing / PhotoDamaged is raised."""
    try:
        return photostore.open_photo(share.photo_key, secret=secret)
    except PhotoMissing as exc:
        damaged = isinstance(exc, PhotoDamaged)
        if damaged:
            # Never the token: the share's number and what was wrong are enough.
            log.error("the photo of share %s fails authentication: %s", share.pk, exc)
        with contextlib.suppress(ShareNotFound):  # purged meanwhile: gone all the same
            reason = EndReason.DAMAGED if damaged else EndReason.MISSING
            share_end(share_id=share.pk, reason=reason)
        raise


def _spend_limited_view(share_id: int) -> Share:
    with transaction.atomic():
        # Lock the row: many viewers may race for the last view.
        share = _lock(share_id)
        _refuse_unviewable(share)  # a report may have suspended it since the first look
        share.views_used += 1
        share.streams_open += 1
        fields = ["views_used", "streams_open"]
        if share.views_used >= share.view_limit:
            fields += _ended(share, EndReason.VIEWED)
        share.save(update_fields=fields)
        ShareView.objects.create(share=share)
    return share


def _spend_unlimited_view(share: Share) -> None:
    """An unlimited share has no last view to race for: its counter is a plain F() update
    guarded by the share still being open, with no row lock to queue viewers behind."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        spent = _spend_unlimited_view_postgresql(share.pk, now)
    else:
        with transaction.atomic():
            spent = (
                Share.objects.viewable().filter(pk=share.pk).update(views_used=F("views_used") + 1)
            )
            if spent == 1:
                ShareView.objects.create(share=share, viewed_at=now)
    if spent != 1:
        try:
            share.refresh_from_db()
        except Share.DoesNotExist:
            raise _purged(share.pk) from None
        if share.suspended_at is not None and not share.is_over:
            raise ShareSuspended(share)
        raise ShareGone(share)
    share.views_used += 1


def _spend_unlimited_view_postgresql(share_id: int, now) -> int:
    """The count and the ShareView in one statement, so one round trip (it was six: BEGIN,
    SET LOCAL, UPDATE, INSERT, COMMIT after the SELECT) and no ORM compiling: on 2 cores
    the ORM's Python was a third of a view's CPU. A single statement is atomic by itself.

    set_config(..., true) lasts for this statement's own transaction, whose commit it
    relaxes: nothing is enforced with this count, so it need not wait for the WAL flush
    (a database crash could only forget a few views of an unlimited share)."""
    share_table, view_table = Share._meta.db_table, ShareView._meta.db_table
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)), "
            f"spent AS (UPDATE {quote(share_table)} SET views_used = views_used + 1 "
            # The same test as ShareQuerySet.viewable(), in SQL.
            "WHERE id = %s AND ended_at IS NULL AND suspended_at IS NULL AND expires_at > %s "
            "RETURNING id) "
            f"INSERT INTO {quote(view_table)} (share_id, viewed_at) "
            "SELECT spent.id, %s FROM spent, relaxed",
            [share_id, now, now],
        )
        return cursor.rowcount


def _pin_failed(share_id: int) -> None:
    with transaction.atomic():
        share = _lock(share_id)
        _refuse_unviewable(share)
        share.pin_failures += 1
        attempts_left = max(settings.SEEN_MAX_PIN_FAILURES - share.pin_failures, 0)
        fields = ["pin_failures"]
        if attempts_left == 0:
            fields += _ended(share, EndReason.PIN)
            _delete_photo_on_commit(share)
        share.save(update_fields=fields)
    raise WrongPin(attempts_left)


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


def _view_sent(share_id: int, body: photostore.PhotoBody, *, limited: bool) -> None:
    """A view's answer is closed. A photo found damaged partway (the viewer's connection was
    cut, never ended cleanly) can never be delivered: the share ends. The view stays spent,
    as one whose viewer went away midway does: it was counted when the photo could be
    delivered as far as anyone could tell (its first chunk had been authenticated)."""
    if body.damaged:
        log.error("the photo of share %s fails authentication partway through a view", share_id)
        with contextlib.suppress(ShareNotFound):
            share_end(share_id=share_id, reason=EndReason.DAMAGED)
    if limited:
        _stream_finished(share_id)


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
            share.ended_at is not None
            and share.streams_open == 0
            and share.photo_deleted_at is None
        )
    if delete_now:
        photo_delete(share_id=share.pk, photo_key=share.photo_key)


def share_revoke(*, manage_token: str) -> Share:
    """The sender deletes the share: it ends now and its photo is deleted."""
    share = Share.objects.filter(manage_token_hash=token_hash(manage_token)).first()
    if share is None:
        raise ShareNotFound
    return share_end(share_id=share.pk, reason=EndReason.REVOKED)


def share_end(*, share_id: int, reason: str) -> Share:
    """End a share (if it has not ended yet) and delete its photo once that commits and
    no view of it is still being sent. Raises ShareNotFound when purge deleted the row."""
    with transaction.atomic():
        share = Share.objects.select_for_update().filter(pk=share_id).first()
        if share is None:
            raise ShareNotFound
        if share.ended_at is None:
            share.save(update_fields=_ended(share, reason))
        elif share.key_salt is not None:  # ended as expired by purge's clock, say
            share.save(update_fields=_shredded(share))
        if share.photo_deleted_at is None:
            _delete_photo_on_commit(share)
    return share


def _ended(share: Share, reason: str) -> list[str]:
    """End the locked share now, for `reason`, and erase its key material with it; returns
    the fields to save, which the caller saves in the same transaction."""
    share.ended_at = timezone.now()
    share.end_reason = reason
    return ["ended_at", "end_reason", *_shredded(share)]


def _shredded(share: Share) -> list[str]:
    """Crypto-shredding: erase the share's salt and the moderators' wrapped copies of its
    key, in the caller's transaction. From its commit on, the link and any copy of the
    object (a backup, an old version, a delete that failed) no longer open the photo."""
    share.key_salt = None
    Report.objects.filter(share_id=share.pk, wrapped_key__isnull=False).update(wrapped_key=None)
    return ["key_salt"]


def shred_expired(share: Share) -> None:
    """A share found past its expiry: its key material is erased now, by whichever request
    (or purge) sees it first, as if it had ended then."""
    with transaction.atomic():
        erased = Share.objects.filter(
            pk=share.pk, ended_at__isnull=True, expires_at__lte=timezone.now()
        ).update(key_salt=None)
        if erased:
            Report.objects.filter(share_id=share.pk).update(wrapped_key=None)
    share.key_salt = None


def _delete_photo_on_commit(share: Share) -> None:
    """Delete the photo of a share that has just ended, once that commits; the caller holds
    the row's lock. While views are still being sent (streams_open) it is left to the last
    of them to close (_stream_finished), and purge's STREAM_GRACE is the net for a stream
    whose worker died: the last-view path has always waited, and a PIN lockout, a revoke
    or a moderator's removal waits the same way rather than cut a viewer off mid-photo."""
    if share.streams_open:
        return
    share_id, key = share.pk, share.photo_key
    transaction.on_commit(lambda: photo_delete(share_id=share_id, photo_key=key))


def photo_delete(*, share_id: int, photo_key: str) -> bool:
    """Delete a share's photo from storage (every version of it, on a versioned bucket)
    and record it. A failure is logged and left for purge to retry; it never reaches the
    viewer."""
    return photos_delete(photo_keys={share_id: photo_key}) == 1


def photos_delete(*, photo_keys: Mapping[int, str]) -> int:
    """photo_delete for many shares ({share_id: photo_key}) at once: one DeleteObjects
    request per 1,000 photos rather than one request each. Returns how many are confirmed
    gone; each failure is logged and recorded on its share, for purge to retry."""
    errors = photostore.delete_many(list(photo_keys.values()))
    by_error: dict[str, list[int]] = {}
    for share_id, key in photo_keys.items():
        if key in errors:
            log.warning("could not delete the photo of share %s: %s", share_id, errors[key])
            by_error.setdefault(errors[key][:500], []).append(share_id)
    for error, share_ids in by_error.items():
        Share.objects.filter(pk__in=share_ids).update(
            delete_failures=F("delete_failures") + 1, last_delete_error=error
        )
    deleted = [share_id for share_id, key in photo_keys.items() if key not in errors]
    if deleted:
        Share.objects.filter(pk__in=deleted).update(photo_deleted_at=timezone.now())
    return len(deleted)


def _delete_object_quietly(key: str) -> None:
    for error in photostore.delete_many([key]).values():
        log.warning("could not delete an orphaned photo: %s", error)
