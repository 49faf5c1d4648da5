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
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from .. import images, keyed, photostore
from ..models import EndReason, Photo, Report, Share, ShareView, token_hash
from .errors import (
    EndNotAllowed,
    PhotoDamaged,
    PhotoFetched,
    PhotoMissing,
    PhotoRefused,
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
# The longest note a sender may add, in characters.
NOTE_MAX_CHARS = 1000


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
    photos: tuple[Photo, ...]
    # What was taken out of each photo, in the photos' order (images.WORD_ORDER words).
    removed_metadata: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ViewedPhoto:
    """A view of a one-photo share: its bytes, sent in the view's answer."""

    share_id: int
    stream: "PhotoStream"  # the caller sends it and must close it
    content_type: str
    size_bytes: int
    views_remaining: int | None  # None: unlimited
    prevent_download: bool
    # The view's secret, when this viewer may end the share (share_end_by_viewer).
    view_secret: str | None = None


@dataclass(frozen=True)
class ViewedAlbum:
    """A view of an album: the note, and the photos to fetch once each (photo_fetch) with
    the view's secret until fetch_until."""

    share_id: int
    view_secret: str
    photos: tuple[Photo, ...]
    note: str | None
    fetch_until: datetime
    views_remaining: int | None
    prevent_download: bool
    can_end: bool


@dataclass(frozen=True)
class FetchedPhoto:
    stream: "PhotoStream"  # the caller sends it and must close it
    content_type: str
    size_bytes: int


def new_token() -> str:
    # 24 random bytes: 192 bits, 32 URL-safe characters.
    return secrets.token_urlsafe(24)


def note_key(share: Share) -> str:
    """The associated data a share's note is sealed under: its own name, so that neither
    a photo's object nor another share's note passes for it."""
    return f"notes/{share.token_hash}"


def share_create(
    *,
    photos: Sequence[IO[bytes]],
    views: int,
    expires_in: int,
    pin: str = "",
    prevent_download: bool = False,
    note: str = "",
    viewer_can_end: bool = False,
) -> CreatedShare:
    """Validate and clean every photo, store them all, then create the share: all or
    nothing.

    Raises PhotoRefused (naming the photo) for a bad photo and StorageUnavailable when the
    store cannot be written. Either way nothing is left behind: no row, no object.
    """
    if views not in VIEW_CHOICES:
        raise ValueError(f"views must be one of {VIEW_CHOICES}")
    if expires_in not in settings.SEEN_EXPIRY_CHOICES:
        raise ValueError(f"expires_in must be one of {settings.SEEN_EXPIRY_CHOICES}")
    if not 1 <= len(photos) <= settings.SEEN_MAX_PHOTOS:
        raise ValueError(f"a share holds 1 to {settings.SEEN_MAX_PHOTOS} photos")
    if len(note) > NOTE_MAX_CHARS:
        raise ValueError(f"a note is at most {NOTE_MAX_CHARS} characters")

    # Every photo is checked before anything is stored, one decode at a time.
    cleaned = []
    for position, photo in enumerate(photos, start=1):
        try:
            cleaned.append(
                images.clean_photo(
                    photo,
                    max_pixels=settings.SEEN_MAX_PIXELS,
                    max_decode_bytes=settings.SEEN_MAX_DECODE_BYTES,
                    decodes_at_once=settings.SEEN_DECODE_CONCURRENCY,
                )
            )
        except images.InvalidPhoto as exc:
            raise PhotoRefused(position, exc) from None

    token, manage_token = new_token(), new_token()
    salt = photostore.new_salt()
    secret = photostore.photo_secret(token=token, salt=salt)
    now = timezone.now()
    share = Share(
        token_hash=token_hash(token),
        manage_token_hash=token_hash(manage_token),
        photo_count=len(cleaned),
        encrypted=True,
        key_salt=salt,
        view_limit=views or None,
        pin_hash=keyed.pin_hash(pin) if pin else "",
        prevent_download=prevent_download,
        viewer_can_end=viewer_can_end,
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )
    if note:
        share.note_sealed = photostore.seal(note.encode(), secret=secret, key=note_key(share))
    rows = []
    try:
        for position, clean in enumerate(cleaned, start=1):
            key = f"{PHOTO_PREFIX}{secrets.token_hex(16)}.{clean.extension}"
            photostore.save(key=key, data=clean.data, secret=secret)
            rows.append(
                Photo(
                    position=position,
                    key=key,
                    content_type=clean.content_type,
                    size_bytes=len(clean.data),
                    width=clean.width,
                    height=clean.height,
                )
            )
        with transaction.atomic():
            share.save(force_insert=True)
            for row in rows:
                row.share = share
            Photo.objects.bulk_create(rows)
    except BaseException:
        _delete_objects_quietly([row.key for row in rows])
        raise
    return CreatedShare(
        share=share,
        token=token,
        manage_token=manage_token,
        photos=tuple(rows),
        removed_metadata=tuple(clean.removed for clean in cleaned),
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


def _refuse_unviewable(share: Share, *, shred: bool = True) -> None:
    """ShareGone or ShareSuspended unless the share can be viewed. One found past its expiry
    is shredded now, or, by a caller inside a transaction that the ShareGone rolls back
    (shred=False), by _shredding_expired around that transaction."""
    if share.is_over:
        if shred and share.key_salt is not None:
            shred_expired(share)
        raise ShareGone(share)
    if share.suspended_at is not None:
        raise ShareSuspended(share)


def _share_by_token(token: str) -> Share | None:
    # token_hash is unique: a slice without .first()'s ORDER BY, whose compiling was a
    # fifth of this query's Python on the view path (py-spy --gil).
    return next(iter(Share.objects.filter(token_hash=token_hash(token))[:1]), None)


@contextlib.contextmanager
def _shredding_expired():
    """Around a transaction that locks a share and refuses it (ShareGone) when it is over:
    one found expired (it may expire between the first look and the lock) is shredded once
    that transaction has rolled back."""
    try:
        yield
    except ShareGone as gone:
        if gone.share.key_salt is not None:  # shred_expired skips one that has ended
            shred_expired(gone.share)
        raise


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
) -> ViewedPhoto | ViewedAlbum:
    """Check the PIN, make sure the photos can be delivered, then spend one view. Exactly
    view_limit calls ever succeed, and a view is spent only when its photos can be sent.

    A one-photo share without a note answers its photo (ViewedPhoto, opened and its first
    chunk authenticated before the view is spent); an album answers ViewedAlbum: its note,
    and a window of SEEN_FETCH_WINDOW seconds in which each photo can be fetched once
    (photo_fetch) with the view's secret. Every photo was found in the store at its sealed
    size first.

    Raises ShareNotFound, ShareGone, ShareSuspended, PinRequired (no PIN sent to a share
    that has one: nothing is counted) or WrongPin; after too many wrong PINs the share
    ends and its photos are deleted. A suspended share spends neither a view nor a PIN
    attempt. An unknown link costs no hash: the 404 already says that it
    does not exist, so there is nothing for equal timing to hide. Raises PhotoMissing
    (and ends the share) when a photo is gone from storage, PhotoDamaged (a kind of
    PhotoMissing, and it ends the share too) when a stored object or the note fails
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
    secret = share_secret(share, token=token)
    if share.is_album:
        return _view_album(share, secret=secret)

    # Open first: on S3 the answer's headers are in when this returns, and a sealed
    # photo's first chunk has been authenticated, so a store that fails (down, access
    # denied, a folder we may not read) costs the viewer nothing, and neither does an
    # object that is missing or is not this photo (which ends the share: it can never be
    # delivered).
    photo = Photo.objects.filter(share_id=share.pk).first()
    if photo is None:  # purged meanwhile
        raise _purged(share.pk)
    body = open_share_photo(share, photo, secret=secret)
    view_secret = new_token() if share.viewers_can_end else None
    try:
        view = ShareView(secret_hash=token_hash(view_secret) if view_secret else None)
        share = _spend(share, view)
        limited = share.view_limit is not None
        on_close = functools.partial(_view_sent, share.pk, body, limited=limited)
    except BaseException:
        body.close()
        raise
    return ViewedPhoto(
        share_id=share.pk,
        stream=PhotoStream(body, on_close),
        content_type=photo.content_type,
        size_bytes=photo.size_bytes,
        views_remaining=share.views_left,
        prevent_download=share.prevent_download,
        view_secret=view_secret,
    )


def _view_album(share: Share, *, secret: bytes | None) -> ViewedAlbum:
    if secret is None:  # albums exist only since encryption
        raise PhotoDamaged(f"share {share.pk} is an album without a key")
    photos = tuple(Photo.objects.filter(share_id=share.pk).order_by("position"))
    if len(photos) != share.photo_count:  # purged meanwhile
        raise _purged(share.pk)
    with _ending_when_undeliverable(share):
        note = None
        if share.note_sealed is not None:
            note = photostore.unseal(share.note_sealed, secret=secret, key=note_key(share))
            note = note.decode()
        photostore.check_present(
            {photo.key: photostore.sealed_size(photo.size_bytes) for photo in photos}
        )
    view_secret = new_token()
    now = timezone.now()
    view = ShareView(
        viewed_at=now,
        secret_hash=token_hash(view_secret),
        window_open=True,
        fetch_until=now + timedelta(seconds=settings.SEEN_FETCH_WINDOW),
        fetch_key=keyed.view_wrap(secret, view_secret=view_secret),
    )
    share = _spend(share, view)
    return ViewedAlbum(
        share_id=share.pk,
        view_secret=view_secret,
        photos=photos,
        note=note,
        fetch_until=view.fetch_until,
        views_remaining=share.views_left,
        prevent_download=share.prevent_download,
        can_end=share.viewers_can_end,
    )


def _spend(share: Share, view: ShareView) -> Share:
    """Spend one view of the share and record `view` (unsaved) with it. On a limited
    share the view holds one of streams_open until its photo is sent, or its album's
    window has closed: the photos outlast the last view until then."""
    if share.view_limit is not None:
        return _spend_limited_view(share.pk, view)
    _spend_unlimited_view(share, view)
    return share


def photo_fetch(*, view_secret: str, position: int) -> FetchedPhoto:
    """The photo at `position` (1, 2, …) of the album a view was spent on, once, within
    the view's window. Taken under the view's row lock, so each photo is delivered at
    most once per view whatever the concurrency; the last one closes the window.

    Raises ShareNotFound (no such view or photo), PhotoFetched (fetched already, or the
    window has closed), PhotoMissing / PhotoDamaged (which end the share) or
    StorageUnavailable. A fetch that fails after it was taken stays taken: the address
    was one-time, and the window's photos are never sent twice."""
    now = timezone.now()
    if connection.vendor == "postgresql" and 1 <= position <= settings.SEEN_MAX_PHOTOS:
        taken = _photo_take_postgresql(view_secret, position, now)
        if taken is not None:
            return _fetched(*taken, view_secret=view_secret)
        # Nothing taken: the way below says why (no such view or photo, fetched, late).
    expired = False
    with transaction.atomic():
        view = (
            ShareView.objects.select_for_update()
            .filter(secret_hash=token_hash(view_secret))
            .first()
        )
        if view is None:
            raise ShareNotFound
        share = Share.objects.only("pk", "view_limit", "photo_count", "encrypted").get(
            pk=view.share_id
        )
        if not 1 <= position <= share.photo_count:
            raise ShareNotFound
        bit = 1 << (position - 1)
        if not view.window_open or view.fetched & bit:
            raise PhotoFetched
        limited = share.view_limit is not None
        if view.fetch_until <= now:
            expired = True
        else:
            wrapped = bytes(view.fetch_key)
            view.fetched |= bit
            last = view.fetched == (1 << share.photo_count) - 1
            fields = ["fetched"]
            if last:
                view.window_open, view.fetch_key = False, None
                fields += ["window_open", "fetch_key"]
            view.save(update_fields=fields)
            if limited and not last:
                # This photo's stream holds the photos too; the last fetch's stream takes
                # over the window's hold.
                Share.objects.filter(pk=share.pk).update(streams_open=F("streams_open") + 1)
    if expired:
        windows_close(ShareView.objects.filter(pk=view.pk))
        _delete_if_settled(share.pk)
        raise PhotoFetched
    photo = Photo.objects.get(share_id=share.pk, position=position)
    return _fetched(share, photo, wrapped, view_secret=view_secret)


def _fetched(share: Share, photo: Photo, wrapped: bytes, *, view_secret: str) -> FetchedPhoto:
    """Open a photo whose fetch was taken; if that fails, the fetch's hold goes."""
    limited = share.view_limit is not None
    try:
        secret = keyed.view_unwrap(wrapped, view_secret=view_secret)
        body = open_share_photo(share, photo, secret=secret)
    except BaseException:
        if limited:
            _stream_finished(share.pk)
        raise
    on_close = functools.partial(_view_sent, share.pk, body, limited=limited)
    return FetchedPhoto(
        stream=PhotoStream(body, on_close),
        content_type=photo.content_type,
        size_bytes=photo.size_bytes,
    )


def _photo_take_postgresql(view_secret: str, position: int, now) -> tuple | None:
    """photo_fetch's transaction in one statement, when the fetch can be taken: the view's
    row locked (FOR UPDATE, as the transaction above locks it), its bit set, the window
    closed on the last photo, the hold added on a limited share, and the photo's row read.
    Six round trips (BEGIN, lock, share, update, COMMIT, photo) were a fetch's main cost
    next to its bytes (bench/view.py). Returns (share, photo, wrapped key) or None when
    nothing was taken. The commit stays synchronous: the bit is what makes the address
    one-time."""
    quote = connection.ops.quote_name
    views, shares, photos = (quote(model._meta.db_table) for model in (ShareView, Share, Photo))
    sql = f"""
        WITH old AS (
            SELECT v.id, v.fetch_key, v.fetched, s.id AS share_id, s.photo_count,
                   s.view_limit, s.encrypted
            FROM {views} v JOIN {shares} s ON s.id = v.share_id
            WHERE v.secret_hash = %(hash)s AND v.window_open AND v.fetch_until > %(now)s
              AND v.fetched & %(bit)s = 0 AND %(position)s <= s.photo_count
            FOR UPDATE OF v
        ), taken AS (
            UPDATE {views} v SET
                fetched = old.fetched | %(bit)s,
                window_open = (old.fetched | %(bit)s) <> (1::bigint << old.photo_count) - 1,
                fetch_key = CASE WHEN (old.fetched | %(bit)s) = (1::bigint << old.photo_count) - 1
                            THEN NULL ELSE v.fetch_key END
            FROM old WHERE v.id = old.id
            RETURNING old.share_id, old.fetch_key, old.view_limit, old.encrypted, v.window_open
        ), held AS (
            UPDATE {shares} s SET streams_open = s.streams_open + 1
            FROM taken
            WHERE s.id = taken.share_id AND taken.view_limit IS NOT NULL AND taken.window_open
        )
        SELECT taken.share_id, taken.fetch_key, taken.view_limit, taken.encrypted,
               p.id, p.key, p.content_type, p.size_bytes
        FROM taken JOIN {photos} p ON p.share_id = taken.share_id AND p.position = %(position)s
    """
    params = {
        "hash": token_hash(view_secret),
        "bit": 1 << (position - 1),
        "now": now,
        "position": position,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    share_id, wrapped, view_limit, encrypted, photo_id, key, content_type, size = row
    share = Share(pk=share_id, view_limit=view_limit, encrypted=encrypted)
    photo = Photo(
        pk=photo_id,
        share_id=share_id,
        position=position,
        key=key,
        content_type=content_type,
        size_bytes=size,
    )
    return share, photo, bytes(wrapped)


def share_end_by_viewer(*, view_secret: str) -> Share:
    """ "I'm done, delete it now": a viewer ends the share they viewed, and its photos are
    deleted. The view's secret is the proof that they spent a view. Allowed on limited
    shares, and on unlimited ones when the sender let viewers (viewer_can_end); raises
    EndNotAllowed otherwise, ShareNotFound for no such view.

    A share that is over already (this was its last view, say) keeps its reason, and an
    expired one is ended as expired; the viewer's own window closes first, so the photos
    go as soon as nothing else holds them (share_end)."""
    view = ShareView.objects.select_related("share").filter(secret_hash=token_hash(view_secret))
    view = view.first()
    if view is None:
        raise ShareNotFound
    share = view.share
    if not share.viewers_can_end:  # fixed at upload: no lock needed to read it
        raise EndNotAllowed
    windows_close(ShareView.objects.filter(pk=view.pk))  # this viewer is done
    reason = EndReason.EXPIRED if share.is_over else EndReason.VIEWER
    return share_end(share_id=share.pk, reason=reason)


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


def open_share_photo(share: Share, photo: Photo, *, secret: bytes | None) -> photostore.PhotoBody:
    """Open one of the share's photos; one that is missing or damaged ends the share (it
    can never be delivered) before PhotoMissing / PhotoDamaged is raised."""
    with _ending_when_undeliverable(share):
        return photostore.open_photo(photo.key, secret=secret)


@contextlib.contextmanager
def _ending_when_undeliverable(share: Share):
    """PhotoMissing or PhotoDamaged from the block ends the share, then passes on."""
    try:
        yield
    except PhotoMissing as exc:
        damaged = isinstance(exc, PhotoDamaged)
        if damaged:
            # Never the token: the share's number and what was wrong are enough.
            log.error("a photo of share %s fails authentication: %s", share.pk, exc)
        with contextlib.suppress(ShareNotFound):  # purged meanwhile: gone all the same
            reason = EndReason.DAMAGED if damaged else EndReason.MISSING
            share_end(share_id=share.pk, reason=reason)
        raise


def _spend_limited_view(share_id: int, view: ShareView) -> Share:
    with _shredding_expired(), transaction.atomic():
        # Lock the row: many viewers may race for the last view.
        share = _lock(share_id)
        _refuse_unviewable(share, shred=False)  # suspended or expired since the first look
        share.views_used += 1
        share.streams_open += 1
        fields = ["views_used", "streams_open"]
        if share.views_used >= share.view_limit:
            fields += _ended(share, EndReason.VIEWED)
        share.save(update_fields=fields)
        view.share = share
        view.save(force_insert=True)
    return share


def _spend_unlimited_view(share: Share, view: ShareView) -> None:
    """An unlimited share has no last view to race for: its counter is a plain F() update
    guarded by the share still being open, with no row lock to queue viewers behind."""
    view.share = share
    if connection.vendor == "postgresql":
        spent = _spend_unlimited_view_postgresql(view)
    else:
        with transaction.atomic():
            spent = (
                Share.objects.viewable().filter(pk=share.pk).update(views_used=F("views_used") + 1)
            )
            if spent == 1:
                view.save(force_insert=True)
    if spent != 1:
        try:
            share.refresh_from_db()
        except Share.DoesNotExist:
            raise _purged(share.pk) from None
        _refuse_unviewable(share)  # over (an expired one is shredded now) or suspended
        raise ShareGone(share)
    share.views_used += 1


def _spend_unlimited_view_postgresql(view: ShareView) -> int:
    """The count and the ShareView in one statement, so one round trip (it was six: BEGIN,
    SET LOCAL, UPDATE, INSERT, COMMIT after the SELECT) and no ORM compiling: on 2 cores
    the ORM's Python was a third of a view's CPU. A single statement is atomic by itself.

    set_config(..., true) lasts for this statement's own transaction, whose commit it
    relaxes: nothing is enforced with this count, so it need not wait for the WAL flush
    (a database crash could only forget a few views of an unlimited share)."""
    share_table, view_table = Share._meta.db_table, ShareView._meta.db_table
    quote = connection.ops.quote_name
    columns = ("viewed_at", "secret_hash", "window_open", "fetch_until", "fetch_key", "fetched")
    values = [getattr(view, column) for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)), "
            f"spent AS (UPDATE {quote(share_table)} SET views_used = views_used + 1 "
            # The same test as ShareQuerySet.viewable(), in SQL.
            "WHERE id = %s AND ended_at IS NULL AND suspended_at IS NULL AND expires_at > %s "
            "RETURNING id) "
            f"INSERT INTO {quote(view_table)} (share_id, {', '.join(map(quote, columns))}) "
            f"SELECT spent.id, {', '.join(['%s'] * len(columns))} FROM spent, relaxed",
            [view.share_id, view.viewed_at, *values],
        )
        return cursor.rowcount


def _pin_failed(share_id: int) -> None:
    with _shredding_expired(), transaction.atomic():
        share = _lock(share_id)
        _refuse_unviewable(share, shred=False)
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
        share_photos_delete(share_ids=[share.pk])


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
    """Crypto-shredding: erase the share's salt, the moderators' wrapped copies of its key
    and its views' (closing their fetch windows), in the caller's transaction. From its
    commit on, the link and any copy of the objects (a backup, an old version, a delete
    that failed) no longer open the photos.

    The one exception is the share's last view: ended for that (EndReason.VIEWED), its
    window stays open until its photos are fetched or it closes, as a one-photo view is
    still sent after the share has ended. Its key is wrapped under that viewer's secret."""
    share.key_salt = None
    Report.objects.filter(share_id=share.pk, wrapped_key__isnull=False).update(wrapped_key=None)
    fields = ["key_salt"]
    if share.end_reason != EndReason.VIEWED:
        closed = _windows_of([share.pk]).update(window_open=False, fetch_key=None)
        if closed and share.view_limit is not None:
            share.streams_open = max(share.streams_open - closed, 0)
            fields.append("streams_open")
    return fields


def _windows_of(share_ids: Iterable[int] | QuerySet) -> QuerySet:
    return ShareView.objects.filter(share_id__in=share_ids, window_open=True)


def key_material_erase(shares: QuerySet) -> int:
    """_shredded for many shares at once, in the caller's transaction (purge, a moderator's
    bulk removal): their salts, their reports' wrapped keys and their open windows.
    Returns how many shares had a salt to erase."""
    ids = list(shares.values_list("pk", flat=True))
    Report.objects.filter(share_id__in=ids, wrapped_key__isnull=False).update(wrapped_key=None)
    windows_close(_windows_of(ids))
    return Share.objects.filter(pk__in=ids, key_salt__isnull=False).update(key_salt=None)


def windows_close(views: QuerySet) -> int:
    """Close these views' fetch windows (erasing their wrapped keys) and give back the hold
    each had on its limited share's photos. Returns how many were open."""
    with transaction.atomic():
        open_views = list(
            views.filter(window_open=True).select_for_update().values_list("pk", "share_id")
        )
        if not open_views:
            return 0
        ShareView.objects.filter(pk__in=[pk for pk, _ in open_views]).update(
            window_open=False, fetch_key=None
        )
        by_share = Counter(share_id for _, share_id in open_views)
        for share_id, count in by_share.items():
            Share.objects.filter(pk=share_id, view_limit__isnull=False).update(
                streams_open=Greatest(F("streams_open") - count, 0)
            )
    return len(open_views)


def _delete_if_settled(share_id: int) -> None:
    """Delete the photos of a share that has ended and that nothing holds any more."""
    settled = Share.objects.filter(
        pk=share_id, ended_at__isnull=False, streams_open=0, photo_deleted_at__isnull=True
    )
    if settled.exists():
        share_photos_delete(share_ids=[share_id])


def windows_expired_close() -> int:
    """Close every window whose time is up (purge runs this first), so that a last view's
    photos that were never all fetched can be deleted."""
    views = ShareView.objects.filter(window_open=True, fetch_until__lte=timezone.now())
    return windows_close(views)


def shred_expired(share: Share) -> None:
    """A share found past its expiry: its key material is erased now, by whichever request
    (or purge) sees it first, as if it had ended then."""
    with transaction.atomic():
        key_material_erase(
            Share.objects.filter(pk=share.pk, ended_at__isnull=True, expires_at__lte=timezone.now())
        )
    share.key_salt = None


def _delete_photo_on_commit(share: Share) -> None:
    """Delete the photo of a share that has just ended, once that commits; the caller holds
    the row's lock. While views are still being sent (streams_open) it is left to the last
    of them to close (_stream_finished), and purge's STREAM_GRACE is the net for a stream
    whose worker died: the last-view path has always waited, and a PIN lockout, a revoke
    or a moderator's removal waits the same way rather than cut a viewer off mid-photo."""
    if share.streams_open:
        return
    share_id = share.pk
    transaction.on_commit(lambda: share_photos_delete(share_ids=[share_id]))


def photo_keys_of(share_ids: Iterable[int]) -> dict[int, list[str]]:
    """{share id: its photos' keys, in order}."""
    keys: dict[int, list[str]] = {}
    rows = Photo.objects.filter(share_id__in=list(share_ids)).order_by("share_id", "position")
    for share_id, key in rows.values_list("share_id", "key"):
        keys.setdefault(share_id, []).append(key)
    return keys


def share_photos_delete(*, share_ids: Iterable[int]) -> int:
    """photos_delete for these shares' photos. Returns how many shares are done."""
    return photos_delete(photo_keys=photo_keys_of(share_ids))


def photos_delete(*, photo_keys: Mapping[int, list[str]]) -> int:
    """Delete shares' photos from storage ({share_id: its photos' keys}; every version, on a
    versioned bucket) and record it: one DeleteObjects request per 1,000 objects. Returns
    how many shares have all their photos confirmed gone; each failure is logged and
    recorded on its share, for purge to retry (it never reaches a viewer)."""
    errors = photostore.delete_many([key for keys in photo_keys.values() for key in keys])
    by_error: dict[str, list[int]] = {}
    deleted = []
    for share_id, keys in photo_keys.items():
        failed = [key for key in keys if key in errors]
        if failed:
            error = errors[failed[0]]
            log.warning("could not delete a photo of share %s: %s", share_id, error)
            by_error.setdefault(error[:500], []).append(share_id)
        else:
            deleted.append(share_id)
    for error, share_ids in by_error.items():
        Share.objects.filter(pk__in=share_ids).update(
            delete_failures=F("delete_failures") + 1, last_delete_error=error
        )
    if deleted:
        Share.objects.filter(pk__in=deleted).update(photo_deleted_at=timezone.now())
    return len(deleted)


def _delete_objects_quietly(keys: list[str]) -> None:
    if not keys:
        return
    for error in photostore.delete_many(keys).values():
        log.warning("could not delete an orphaned photo: %s", error)
