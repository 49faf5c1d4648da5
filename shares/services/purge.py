"""Purge: ended shares, failed deletes and orphaned objects."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import counters, photostore
from ..models import Report, Share
from .lifecycle import PHOTO_PREFIX

log = logging.getLogger(__name__)

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
    return Share.objects.over().filter(settled)


def _purge_preview() -> PurgeResult:
    rows = _purgeable()
    return PurgeResult(
        shares=rows.count(),
        objects=rows.filter(photo_deleted_at__isnull=True).count(),
        failed=0,
    )


def _shred_over() -> int:
    """Erase the key material of every share that is over and still has some (an expiry
    nobody has requested since): first thing, in one transaction, so that a share whose
    object cannot be deleted now is unreadable all the same."""
    with transaction.atomic():
        over = Share.objects.over().filter(key_salt__isnull=False)
        Report.objects.filter(share__in=over, wrapped_key__isnull=False).update(wrapped_key=None)
        return over.update(key_salt=None)


def _purge_shares(*, batch_size: int) -> PurgeResult:
    _shred_over()
    purged = objects = failed = 0
    last_pk = 0
    while True:
        # Claim up to one DeleteObjects request's worth of rows, batch_size at a time.
        # Rows, not photos still to delete: after a last view the photo is already gone,
        # and counting photos would claim a whole backlog of such rows into memory (and
        # past PURGE_CLAIM) before deleting anything.
        claimed: list[Share] = []
        while len(claimed) < DELETE_OBJECTS_MAX:
            limit = min(batch_size, DELETE_OBJECTS_MAX - len(claimed))
            batch = _purge_claim(after_pk=last_pk, limit=limit)
            if not batch:
                break
            last_pk = batch[-1].pk
            claimed += batch
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
                    share.pk,
                    share.photo_key,
                    errors[share.photo_key],
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


def orphans_purge(*, dry_run: bool = False, min_age: timedelta = ORPHAN_MIN_AGE) -> tuple[int, int]:
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
