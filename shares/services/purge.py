"""Purge: ended shares, failed deletes and orphaned objects."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from .. import counters, photostore
from ..models import Photo, Share
from .lifecycle import PHOTO_PREFIX, key_material_erase, photo_keys_of, windows_expired_close

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
        objects=rows.filter(photo_deleted_at__isnull=True).aggregate(n=Sum("photo_count"))["n"]
        or 0,
        failed=0,
    )


def _shred_over() -> int:
    """Erase the key material of every share that is over and still has some (an expiry
    nobody has requested since): first thing, in one transaction, so that a share whose
    objects cannot be deleted now are unreadable all the same."""
    with transaction.atomic():
        return key_material_erase(Share.objects.over().filter(key_salt__isnull=False))


def _purge_shares(*, batch_size: int) -> PurgeResult:
    _shred_over()
    # Windows whose time is up give back their hold on a last view's photos first.
    windows_expired_close()
    purged = objects = failed = 0
    last_pk = 0
    while True:
        # Claim up to one DeleteObjects request's worth of objects (an album counts each
        # of its photos), batch_size rows at a time, and never more rows than that either:
        # after a last view the photos are already gone, and counting only objects would
        # claim a whole backlog of such rows into memory (and past PURGE_CLAIM).
        claimed: list[Share] = []
        pending = 0
        while pending < DELETE_OBJECTS_MAX and len(claimed) < DELETE_OBJECTS_MAX:
            limit = min(batch_size, DELETE_OBJECTS_MAX - len(claimed))
            batch = _purge_claim(after_pk=last_pk, limit=limit)
            if not batch:
                break
            last_pk = batch[-1].pk
            claimed += batch
            pending += sum(s.photo_count for s in batch if s.photo_deleted_at is None)
        if not claimed:
            break

        # No transaction is open here: the claim keeps other purges away instead of a lock.
        keys = photo_keys_of(share.pk for share in claimed if share.photo_deleted_at is None)
        errors = photostore.delete_many([key for share_keys in keys.values() for key in share_keys])
        by_error: dict[str, list[int]] = {}
        failed_shares = set()
        for share_id, share_keys in keys.items():
            for key in share_keys:
                if key in errors:
                    log.warning(
                        "could not delete a photo of share %s (%s): %s", share_id, key, errors[key]
                    )
                    by_error.setdefault(errors[key][:500], []).append(share_id)
                    failed_shares.add(share_id)
                    break
        for error, share_ids in by_error.items():
            Share.objects.filter(pk__in=share_ids).update(
                delete_failures=F("delete_failures") + 1,
                last_delete_error=error,
                purge_claimed_until=None,
            )
        failed += len(errors)
        objects += sum(len(share_keys) for share_keys in keys.values()) - len(errors)

        gone = [share.pk for share in claimed if share.pk not in failed_shares]
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
            .only("pk", "photo_count", "photo_deleted_at")[:limit]
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
    rows = _purgeable().order_by("pk").values_list("pk", "photo_deleted_at")
    for share_id, photo_deleted_at in rows.iterator():
        if photo_deleted_at:
            yield f"share {share_id}"
        else:
            keys = photo_keys_of([share_id]).get(share_id, [])
            yield f"share {share_id} and {', '.join(keys)}"
    if orphans:
        for keys in _orphan_pages(older_than=timezone.now() - ORPHAN_MIN_AGE):
            yield from (f"orphan {key}" for key in keys)


def _orphan_pages(*, older_than) -> Iterator[list[str]]:
    for keys in photostore.list_older_than(prefix=PHOTO_PREFIX, older_than=older_than):
        referenced = set(Photo.objects.filter(key__in=keys).values_list("key", flat=True))
        orphans = [key for key in keys if key not in referenced]
        if orphans:
            yield orphans
