"""Moderation: reports come from anonymous viewers; every other change here is a
moderator's, and each one (previews included) leaves a ModerationEvent."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from .. import keyed, photostore
from ..models import (
    EndReason,
    ModerationAction,
    ModerationEvent,
    Report,
    ReportReason,
    ReportStatus,
    Share,
    token_hash,
)
from .errors import PreviewRefused, ShareGone, ShareNotFound
from .lifecycle import PhotoStream, _lock, _purged, photos_delete


@dataclass(frozen=True)
class SharesRemoved:
    """What shares_remove did. `removed`: every share it found, now over (the ones that
    had ended already keep their reason); `purged`: the ids whose rows purge had deleted
    before the removal got to them; `photos_waiting`: photos left for the view still
    being sent to close (the last stream deletes it, as after a last view)."""

    removed: tuple[Share, ...]
    purged: tuple[int, ...]
    photos_waiting: int


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
    are dismissed with it. Returns False when the share was not suspended (or is over);
    raises ShareGone when purge has deleted its row since the moderator's list was read."""
    with transaction.atomic():
        share = _lock(share_id)
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
    """A moderator removes one share (see shares_remove). Raises ShareGone when purge has
    deleted its row since the moderator's page was read."""
    removed = shares_remove(share_ids=[share_id], actor=actor).removed
    if not removed:
        raise _purged(share_id)
    return removed[0]


def shares_remove(*, share_ids: Iterable[int], actor: AbstractBaseUser) -> SharesRemoved:
    """A moderator removes shares: each ends now ("removed by a moderator"), its open
    reports become "actioned" (all are kept) and an audit record says so, all in one
    transaction. Once that commits, the photos go in one batch (one DeleteObjects request
    per 1,000): a removal of thousands must not send a request per share and outlast the
    worker's timeout. A photo still being sent to a viewer is left to that view's close,
    as when any share ends. Rows purge has already deleted are skipped and named in the
    result."""
    wanted = sorted(set(share_ids))
    now = timezone.now()
    with transaction.atomic():
        # Locked in primary-key order, so that two removals of overlapping selections
        # queue behind each other instead of deadlocking.
        shares = list(Share.objects.select_for_update().filter(pk__in=wanted).order_by("pk"))
        found = [share.pk for share in shares]
        already_ended = {
            share.pk: share.get_end_reason_display() for share in shares if share.ended_at
        }
        ending = [share for share in shares if share.ended_at is None]
        Share.objects.filter(pk__in=[share.pk for share in ending]).update(
            ended_at=now, end_reason=EndReason.REMOVED
        )
        for share in ending:
            share.ended_at, share.end_reason = now, EndReason.REMOVED

        open_reports = Report.objects.filter(share_id__in=found, status=ReportStatus.OPEN)
        actioned = dict(
            open_reports.values("share_id").annotate(n=Count("pk")).values_list("share_id", "n")
        )
        open_reports.update(
            status=ReportStatus.ACTIONED, resolved_at=now, resolved_by=actor.get_username()
        )
        events = []
        for share in shares:
            note = f"{actioned.get(share.pk, 0)} open reports actioned"
            if share.pk in already_ended:
                note += f"; it had already ended ({already_ended[share.pk]})"
            events.append(
                _event(actor=actor, action=ModerationAction.REMOVED, share=share, note=note)
            )
        ModerationEvent.objects.bulk_create(events)

        photos = {
            share.pk: share.photo_key
            for share in shares
            if share.photo_deleted_at is None and not share.streams_open
        }
        if photos:
            transaction.on_commit(lambda: photos_delete(photo_keys=photos))
    return SharesRemoved(
        removed=tuple(shares),
        purged=tuple(sorted(set(wanted) - set(found))),
        photos_waiting=sum(
            1 for share in shares if share.photo_deleted_at is None and share.streams_open
        ),
    )


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
            'Nobody has reported this share. Tick "view unreported content" to preview it anyway.'
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
    event = _event(actor=actor, action=action, share=share, note=note)
    event.save()
    return event


def _event(
    *, actor: AbstractBaseUser | None, action: str, share: Share, note: str = ""
) -> ModerationEvent:
    return ModerationEvent(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "system",
        action=action,
        share=share,
        share_number=share.pk,
        note=note[:500],
    )
