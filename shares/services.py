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
from typing import IO, Callable, Iterable, Iterator, Protocol

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import counters, images, keyed, photostore
from .photostore import PhotoMissing, StorageUnavailable  # noqa: F401 - callers catch them here
from .models import (
    EndReason,
    ModerationAction,
    ModerationEvent,
    Report,
    ReportReason,
    ReportStatus,
    Share,
    ShareView,
    token_hash,
)

log = logging.getLogger(__name__)

VIEW_CHOICES = (1, 3, 5, 10, 0)  # 0 means unlimited


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


class PinRequired(Exception):
    """The share has a PIN and none was sent. Not a guess: nothing was checked or counted."""

    def __init__(self, share: Share):
        super().__init__("this share needs its PIN")
        self.share = share


class PinAttempts(Protocol):
    """The caller's count of a client's PIN attempts (across shares), kept outside the
    share: reserve() counts one attempt before the PIN is checked, or raises when the
    client has used them all; release() gives it back when the PIN was right."""

    def reserve(self) -> None: ...

    def release(self) -> None: ...


class ShareSuspended(Exception):
    """Reports put the share under review: nobody can view it until a moderator acts."""

    def __init__(self, share: Share):
        super().__init__("suspended for review")
        self.share = share


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
    photostore.save(key=key, data=clean.data)

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


def _refuse_unviewable(share: Share) -> None:
    if share.is_over:
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


def share_view(*, token: str, pin: str = "", pin_attempts: PinAttempts | None = None) -> ViewedPhoto:
    """Check the PIN, open the photo, then spend one view. Exactly view_limit calls ever
    succeed, and a view is spent only when its photo can be sent.

    Raises ShareNotFound, ShareGone, ShareSuspended, PinRequired (no PIN sent to a share
    that has one: nothing is counted) or WrongPin; after too many wrong PINs the share
    ends and its photo is deleted. A suspended share spends neither a view nor a PIN
    attempt. An unknown link costs no hash: the 404 already says that it
    does not exist, so there is nothing for equal timing to hide. Raises PhotoMissing
    (and ends the share) when its photo is gone from storage, and StorageUnavailable,
    with nothing spent, when the store fails.

    pin_attempts, when given, counts the attempt before the PIN is checked (and whatever
    it raises when the client has none left passes through), so that many wrong PINs
    sent at once cannot all be checked before the first one is counted.
    """
    share = _share_by_token(token)
    if share is None:
        raise ShareNotFound
    _refuse_unviewable(share)
    if share.pin_hash:
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

    # Open first: on S3 the answer's headers are in when this returns, so a store that
    # fails (down, access denied, a folder we may not read) costs the viewer nothing.
    try:
        body = photostore.open_photo(share.photo_key)
    except PhotoMissing:
        share_end(share_id=share.pk, reason=EndReason.MISSING)
        raise
    try:
        if share.view_limit is None:
            _spend_unlimited_view(share)
            on_close = None
        else:
            share = _spend_limited_view(share.pk)
            on_close = functools.partial(_stream_finished, share.pk)
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


def _spend_limited_view(share_id: int) -> Share:
    with transaction.atomic():
        # Lock the row: many viewers may race for the last view.
        share = Share.objects.select_for_update().get(pk=share_id)
        _refuse_unviewable(share)  # a report may have suspended it since the first look
        share.views_used += 1
        share.streams_open += 1
        fields = ["views_used", "streams_open"]
        if share.views_used >= share.view_limit:
            share.ended_at = timezone.now()
            share.end_reason = EndReason.VIEWED
            fields += ["ended_at", "end_reason"]
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
            spent = Share.objects.filter(
                pk=share.pk, ended_at__isnull=True, suspended_at__isnull=True, expires_at__gt=now
            ).update(views_used=F("views_used") + 1)
            if spent == 1:
                ShareView.objects.create(share=share, viewed_at=now)
    if spent != 1:
        share.refresh_from_db()
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
            "WHERE id = %s AND ended_at IS NULL AND suspended_at IS NULL AND expires_at > %s "
            "RETURNING id) "
            f"INSERT INTO {quote(view_table)} (share_id, viewed_at) "
            "SELECT spent.id, %s FROM spent, relaxed",
            [share_id, now, now],
        )
        return cursor.rowcount


def _pin_failed(share_id: int) -> None:
    with transaction.atomic():
        share = Share.objects.select_for_update().get(pk=share_id)
        _refuse_unviewable(share)
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


# --- moderation ---------------------------------------------------------------------------
# Reports come from anonymous viewers; every other change here is a moderator's, and each
# one (previews included) leaves a ModerationEvent.


class PreviewRefused(Exception):
    pass


@dataclass(frozen=True)
class PreviewPhoto:
    stream: PhotoStream
    content_type: str
    size_bytes: int


def reports_to_suspend(share: Share) -> int:
    """How many open reports suspend this share (SEEN_REPORTS_TO_SUSPEND)."""
    if settings.SEEN_REPORTS_TO_SUSPEND is not None:
        return settings.SEEN_REPORTS_TO_SUSPEND
    # An unlimited link can reach many people before anyone looks: one report is enough.
    return 1 if share.is_unlimited else 2


def report_create(*, token: str, reason: str, reporter_address: str, details: str = "") -> Report:
    """A viewer reports the photo behind a link. It never spends a view.

    When the share's open reports, counted once per reporter, reach the threshold it is
    suspended at once. A report on a share that has already ended is kept for the
    moderators and changes nothing. Raises ShareNotFound.
    """
    if reason not in ReportReason.values:
        raise ValueError(f"reason must be one of {ReportReason.values}")
    found = Share.objects.filter(token_hash=token_hash(token)).values_list("pk", flat=True).first()
    if found is None:
        raise ShareNotFound
    reporter = keyed.reporter_hash(share_id=found, address=reporter_address)
    with transaction.atomic():
        # Lock the row: reports arriving together must suspend the share exactly once,
        # and none may slip past the threshold uncounted.
        share = Share.objects.select_for_update().filter(pk=found).first()
        if share is None:  # purged in between
            raise ShareNotFound
        report = Report.objects.create(
            share=share,
            share_number=share.pk,
            reason=reason,
            details=details[:2000],
            reporter=reporter,
        )
        if share.suspended_at is None and not share.is_over:
            reporters = _open_reporters(share)
            threshold = reports_to_suspend(share)
            if reporters >= threshold:
                share.suspended_at = timezone.now()
                share.save(update_fields=["suspended_at"])
                _record(
                    actor=None,
                    action=ModerationAction.SUSPENDED,
                    share=share,
                    note=f"open reports from {reporters} reporters (threshold {threshold})",
                )
    return report


def _open_reporters(share: Share) -> int:
    """How many people have open reports on the share (a report made before reporters
    were recorded counts as one person of its own)."""
    open_reports = share.reports.filter(status=ReportStatus.OPEN)
    known = open_reports.exclude(reporter="").values("reporter").distinct().count()
    return known + open_reports.filter(reporter="").count()


def share_restore(*, share_id: int, actor: AbstractBaseUser) -> bool:
    """Lift a suspension: the moderator found nothing wrong, so the share's open reports
    are dismissed with it. Returns False when the share was not suspended (or is over)."""
    with transaction.atomic():
        share = Share.objects.select_for_update().get(pk=share_id)
        if share.suspended_at is None or share.is_over:
            return False
        share.suspended_at = None
        share.save(update_fields=["suspended_at"])
        dismissed = _close_reports(share, ReportStatus.DISMISSED, actor)
        _record(
            actor=actor,
            action=ModerationAction.RESTORED,
            share=share,
            note=f"{dismissed} open reports dismissed",
        )
    return True


def share_remove(*, share_id: int, actor: AbstractBaseUser) -> Share:
    """A moderator removes a share: it ends now ("removed by a moderator"), its photo is
    deleted once that commits, and its open reports become "actioned" (all are kept)."""
    with transaction.atomic():
        before = Share.objects.select_for_update().get(pk=share_id)
        already_ended = before.get_end_reason_display() if before.ended_at else ""
        share = share_end(share_id=share_id, reason=EndReason.REMOVED)
        actioned = _close_reports(share, ReportStatus.ACTIONED, actor)
        note = f"{actioned} open reports actioned"
        if already_ended:
            note += f"; it had already ended ({already_ended})"
        _record(actor=actor, action=ModerationAction.REMOVED, share=share, note=note)
    return share


def reports_dismiss(*, report_ids: Iterable[int], actor: AbstractBaseUser) -> int:
    """Close open reports as unfounded, with one audit record per share; returns how many.

    A suspended share stays suspended: restoring it is a decision of its own.
    """
    now = timezone.now()
    with transaction.atomic():
        reports = list(
            Report.objects.select_for_update()
            .filter(pk__in=list(report_ids), status=ReportStatus.OPEN)
            .order_by("pk")
        )
        Report.objects.filter(pk__in=[r.pk for r in reports]).update(
            status=ReportStatus.DISMISSED, resolved_at=now, resolved_by=actor.get_username()
        )
        by_share: dict[int, list[Report]] = {}
        for report in reports:
            by_share.setdefault(report.share_number, []).append(report)
        for share_number, closed in by_share.items():
            ModerationEvent.objects.create(
                actor=actor,
                actor_name=actor.get_username(),
                action=ModerationAction.DISMISSED,
                share_id=closed[0].share_id,
                share_number=share_number,
                note=f"{len(closed)} reports dismissed",
            )
    return len(reports)


def moderation_preview(
    *, share_id: int, actor: AbstractBaseUser, unreported_confirmed: bool = False
) -> PreviewPhoto:
    """Open a share's photo for a moderator. Spends no view and deletes nothing; every
    preview is recorded.

    Raises PreviewRefused for a share nobody reported unless the moderator confirmed they
    mean to view unreported content, ShareGone once the share is over (its photo is
    deleted or about to be), ShareNotFound or PhotoMissing.
    """
    share = Share.objects.filter(pk=share_id).first()
    if share is None:
        raise ShareNotFound
    if share.is_over or share.photo_deleted_at is not None:
        raise ShareGone(share)
    reported = share.reports.exists()
    if not reported and not unreported_confirmed:
        raise PreviewRefused(
            "Nobody has reported this share. Tick \"view unreported content\" to preview it anyway."
        )
    body = photostore.open_photo(share.photo_key)
    try:
        _record(
            actor=actor,
            action=ModerationAction.PREVIEWED,
            share=share,
            note="" if reported else "unreported content, confirmed by the moderator",
        )
    except BaseException:
        body.close()
        raise
    return PreviewPhoto(
        stream=PhotoStream(body), content_type=share.content_type, size_bytes=share.size_bytes
    )


def _close_reports(share: Share, status: str, actor: AbstractBaseUser) -> int:
    return Report.objects.filter(share=share, status=ReportStatus.OPEN).update(
        status=status, resolved_at=timezone.now(), resolved_by=actor.get_username()
    )


def _record(
    *, actor: AbstractBaseUser | None, action: str, share: Share, note: str = ""
) -> ModerationEvent:
    return ModerationEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "system",
        action=action,
        share=share,
        share_number=share.pk,
        note=note[:500],
    )


def _delete_photo_on_commit(share: Share) -> None:
    share_id, key = share.pk, share.photo_key
    transaction.on_commit(lambda: photo_delete(share_id=share_id, photo_key=key))


def photo_delete(*, share_id: int, photo_key: str) -> bool:
    """Delete a share's photo from storage (every version of it, on a versioned bucket)
    and record it. A failure is logged and left for purge to retry; it never reaches the
    viewer."""
    errors = photostore.delete_many([photo_key])
    if errors:
        error = errors[photo_key]
        log.warning("could not delete the photo of share %s: %s", share_id, error)
        Share.objects.filter(pk=share_id).update(
            delete_failures=F("delete_failures") + 1, last_delete_error=error
        )
        return False
    Share.objects.filter(pk=share_id).update(photo_deleted_at=timezone.now())
    return True


def _delete_object_quietly(key: str) -> None:
    for error in photostore.delete_many([key]).values():
        log.warning("could not delete an orphaned photo: %s", error)


# --- purge: ended shares, failed deletes and orphaned objects -----------------------------

# Every photo key starts with this (see share_create); --orphans lists only this prefix.
PHOTO_PREFIX = "photos/"
# One DeleteObjects request's worth of photos is claimed at a time.
DELETE_OBJECTS_MAX = photostore.BATCH
# How long a purge's claim on a row lasts. If that purge dies, another one may take the
# row after this; deleting an object twice is harmless.
PURGE_CLAIM = timedelta(minutes=15)
# An object younger than this may belong to an upload whose row is being inserted now.
ORPHAN_MIN_AGE = timedelta(hours=1)
# A view still being sent keeps its photo, but a crashed worker's count of open streams
# is not waited on for ever.
STREAM_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class PurgeResult:
    shares: int
    objects: int
    failed: int
    orphans: int = 0


def shares_purge(
    *, dry_run: bool = False, batch_size: int = 500, orphans: bool = False
) -> PurgeResult:
    """Delete every ended or expired share and its photo; with orphans=True also the
    objects under photos/ that no share references and that are older than an hour.

    Rows are claimed batch_size at a time in short transactions (skip_locked, so two
    purges at once split the work instead of queueing); their objects are then deleted
    with no transaction open, up to 1,000 keys per S3 DeleteObjects request, and only
    the rows whose object is confirmed gone are deleted. A share whose object could not
    be deleted keeps its row, marked with the error, and the next run tries again.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    result = _purge_preview() if dry_run else _purge_shares(batch_size=batch_size)
    if not dry_run:
        counters.expired_delete()  # rate-limit counters of windows that have ended
    if orphans:
        removed, failed = orphans_purge(dry_run=dry_run)
        result = PurgeResult(
            shares=result.shares,
            objects=result.objects,
            failed=result.failed + failed,
            orphans=removed,
        )
    return result


def _purgeable():
    now = timezone.now()
    settled = (
        Q(streams_open=0)
        | Q(ended_at__lt=now - STREAM_GRACE)
        | Q(expires_at__lt=now - STREAM_GRACE)
    )
    return Share.objects.ended().filter(settled)


def _purge_preview() -> PurgeResult:
    rows = _purgeable()
    return PurgeResult(
        shares=rows.count(),
        objects=rows.filter(photo_deleted_at__isnull=True).count(),
        failed=0,
    )


def _purge_shares(*, batch_size: int) -> PurgeResult:
    purged = objects = failed = 0
    last_pk = 0
    while True:
        # Claim rows until they hold one DeleteObjects request's worth of photos.
        claimed: list[Share] = []
        photos = 0
        while photos < DELETE_OBJECTS_MAX:
            limit = min(batch_size, DELETE_OBJECTS_MAX - photos)
            batch = _purge_claim(after_pk=last_pk, limit=limit)
            if not batch:
                break
            last_pk = batch[-1].pk
            claimed += batch
            photos += sum(1 for share in batch if share.photo_deleted_at is None)
        if not claimed:
            break

        # No transaction is open here: the claim keeps other purges away instead of a lock.
        to_delete = [share for share in claimed if share.photo_deleted_at is None]
        errors = photostore.delete_many([share.photo_key for share in to_delete])
        by_error: dict[str, list[int]] = {}
        for share in to_delete:
            if share.photo_key in errors:
                log.warning(
                    "could not delete the photo of share %s (%s): %s",
                    share.pk, share.photo_key, errors[share.photo_key],
                )
                by_error.setdefault(errors[share.photo_key][:500], []).append(share.pk)
        for error, share_ids in by_error.items():
            Share.objects.filter(pk__in=share_ids).update(
                delete_failures=F("delete_failures") + 1,
                last_delete_error=error,
                purge_claimed_until=None,
            )
        failed += len(errors)
        objects += len(to_delete) - len(errors)

        gone = [share.pk for share in claimed if share.photo_key not in errors]
        for start in range(0, len(gone), batch_size):
            chunk = gone[start : start + batch_size]
            _count, per_model = Share.objects.filter(pk__in=chunk).delete()
            purged += per_model.get(Share._meta.label, 0)
    return PurgeResult(shares=purged, objects=objects, failed=failed)


def _purge_claim(*, after_pk: int, limit: int) -> list[Share]:
    """Claim up to `limit` purgeable rows after `after_pk` for this purge, in one short
    transaction. Rows another purge holds (locked now, or claimed and not yet expired)
    are skipped, so two purges never wait on each other nor do the same work."""
    now = timezone.now()
    with transaction.atomic():
        batch = list(
            _purgeable()
            .filter(pk__gt=after_pk)
            .filter(Q(purge_claimed_until__isnull=True) | Q(purge_claimed_until__lt=now))
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .only("pk", "photo_key", "photo_deleted_at")[:limit]
        )
        if batch:
            Share.objects.filter(pk__in=[share.pk for share in batch]).update(
                purge_claimed_until=now + PURGE_CLAIM
            )
    return batch


def orphans_purge(
    *, dry_run: bool = False, min_age: timedelta = ORPHAN_MIN_AGE
) -> tuple[int, int]:
    """Delete objects under photos/ that no share references and that are older than
    min_age: what a crash between upload and insert leaves behind.

    Returns (orphans deleted, or found when dry_run; orphans that could not be deleted).
    """
    removed = failed = 0
    for orphans in _orphan_pages(older_than=timezone.now() - min_age):
        if dry_run:
            removed += len(orphans)
            continue
        errors = photostore.delete_many(orphans)
        for key, error in errors.items():
            log.warning("could not delete the orphaned object %s: %s", key, error)
        removed += len(orphans) - len(errors)
        failed += len(errors)
    return removed, failed


def purge_candidates(*, orphans: bool = False) -> Iterator[str]:
    """What a purge would delete now, one line each (for purge --dry-run -v 2)."""
    rows = _purgeable().order_by("pk").values_list("pk", "photo_key", "photo_deleted_at")
    for share_id, key, photo_deleted_at in rows.iterator():
        yield f"share {share_id}" if photo_deleted_at else f"share {share_id} and {key}"
    if orphans:
        for keys in _orphan_pages(older_than=timezone.now() - ORPHAN_MIN_AGE):
            yield from (f"orphan {key}" for key in keys)


def _orphan_pages(*, older_than) -> Iterator[list[str]]:
    for keys in photostore.list_older_than(prefix=PHOTO_PREFIX, older_than=older_than):
        referenced = set(
            Share.objects.filter(photo_key__in=keys).values_list("photo_key", flat=True)
        )
        orphans = [key for key in keys if key not in referenced]
        if orphans:
            yield orphans
