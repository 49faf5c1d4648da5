"""Moderation: reports come from anonymous viewers; every other change here is a
moderator's, and each one (previews included) leaves a ModerationEvent."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy

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
from .lifecycle import (
    PhotoStream,
    PinAttempts,
    _ending_when_undeliverable,
    _lock,
    _purged,
    key_material_erase,
    note_key,
    open_share_photo,
    pin_check,
    share_photos_delete,
    share_secret,
    shred_expired,
)


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


def report_create(
    *,
    token: str,
    reason: str,
    reporter_address: str,
    details: str = "",
    pin: str = "",
    pin_attempts: PinAttempts | None = None,
) -> Report:
    """A viewer reports the photo behind a link. It never spends a view.

    A report is made with the link, so while the share lives it carries the photo's key
    wrapped for the moderators: the only way anyone but a link holder can open the photo.
    A share with a PIN gives its key only with its PIN: a wrong one raises WrongPin and
    counts like any wrong PIN (nothing is stored), and a report sent without one is kept
    without the key (the moderators then cannot open the photo).

    When the share's open reports, counted once per reporter, reach the threshold it is
    suspended at once. A report on a share that has already ended is kept for the
    moderators and changes nothing. Raises ShareNotFound.
    """
    if reason not in ReportReason.values:
        raise ValueError(f"reason must be one of {ReportReason.values}")
    found = Share.objects.filter(token_hash=token_hash(token)).first()
    if found is None:
        raise ShareNotFound
    wrapped = _wrapped_key(found, token=token, pin=pin, pin_attempts=pin_attempts)
    reporter = keyed.reporter_hash(share_id=found.pk, address=reporter_address)
    with transaction.atomic():
        # Lock the row: reports arriving together must suspend the share exactly once,
        # and none may slip past the threshold uncounted.
        share = Share.objects.select_for_update().filter(pk=found.pk).first()
        if share is None:  # purged in between
            raise ShareNotFound
        report = Report.objects.create(
            share=share,
            share_number=share.pk,
            reason=reason,
            details=details[:2000],
            reporter=reporter,
            # Not if the share ended meanwhile: its key material is gone for good.
            wrapped_key=wrapped if share.key_salt is not None else None,
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


def _wrapped_key(
    share: Share, *, token: str, pin: str, pin_attempts: PinAttempts | None
) -> bytes | None:
    """The photo's key wrapped for the moderators, or None: the share is over (nothing is
    left to open), is plain (from before encryption: moderators open it as it is), or has
    a PIN that the reporter did not give. Raises WrongPin for a wrong PIN."""
    if share.is_over:
        if share.key_salt is not None:
            shred_expired(share)
        return None
    if not share.encrypted or share.key_salt is None or (share.pin_hash and not pin):
        return None
    pin_check(share, pin=pin, pin_attempts=pin_attempts)
    secret = share_secret(share, token=token)
    return keyed.moderation_wrap(secret, share_id=share.pk)


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
        # Crypto-shredding, in the same transaction: from its commit on, nothing opens
        # these photos, even where a delete does not reach.
        key_material_erase(Share.objects.filter(pk__in=found))
        # Closing their open fetch windows gave back those windows' holds on the photos.
        streams_open = dict(Share.objects.filter(pk__in=found).values_list("pk", "streams_open"))
        for share in shares:
            share.key_salt = None
            share.streams_open = streams_open[share.pk]

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

        deletable = [
            share.pk
            for share in shares
            if share.photo_deleted_at is None and not share.streams_open
        ]
        if deletable:
            transaction.on_commit(lambda: share_photos_delete(share_ids=deletable))
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


UNREPORTED_REFUSAL = gettext_lazy(
    "Nobody has reported this share, so it cannot be previewed: its photo is encrypted with "
    "a key that only its link holds, and a copy of that key reaches the moderators only "
    "with a report made from the link."
)
NO_KEY_REFUSAL = gettext_lazy(
    "The photo cannot be opened: this share has a PIN and its reports were sent without "
    "it, so no report carries the photo's key."
)


def preview_refusal(share: Share) -> str | None:
    """Why the moderators cannot open this share's photo, or None when a report gave them
    its key (or the share is plain, from before encryption, and was reported)."""
    reports = share.reports.all()
    if not reports.exists():
        return UNREPORTED_REFUSAL
    if share.encrypted and not reports.filter(wrapped_key__isnull=False).exists():
        return NO_KEY_REFUSAL
    return None


def moderation_preview(
    *, share_id: int, actor: AbstractBaseUser, position: int = 1
) -> PreviewPhoto:
    """Open one photo (position 1, 2, …) of a reported share for a moderator, with the key
    a report carries. Spends no view and deletes nothing; every preview is recorded.

    Raises PreviewRefused for a share nobody reported (no key exists for it here) or whose
    reports carry no key, ShareGone once the share is over (its key material is erased),
    ShareNotFound, PhotoMissing or PhotoDamaged.
    """
    share, secret = _opened_for_moderator(share_id=share_id, actor=actor)
    photo = share.photos.filter(position=position).first()
    if photo is None:
        raise ShareNotFound
    body = open_share_photo(share, photo, secret=secret)
    try:
        note = f"photo {position} of {share.photo_count}"
        _record(actor=actor, action=ModerationAction.PREVIEWED, share=share, note=note)
    except BaseException:
        body.close()
        raise
    return PreviewPhoto(
        stream=PhotoStream(body), content_type=photo.content_type, size_bytes=photo.size_bytes
    )


def moderation_note(*, share_id: int, actor: AbstractBaseUser) -> str | None:
    """A reported share's note (None when it has none), for a moderator, opened with the
    key a report carries, as moderation_preview opens its photos; recorded the same way,
    and refused the same way (PreviewRefused, ShareGone, ShareNotFound, PhotoDamaged)."""
    share, secret = _opened_for_moderator(share_id=share_id, actor=actor)
    if share.note_sealed is None:
        return None
    with _ending_when_undeliverable(share):
        note = photostore.unseal(share.note_sealed, secret=secret, key=note_key(share)).decode()
    _record(actor=actor, action=ModerationAction.PREVIEWED, share=share, note="the note")
    return note


def _opened_for_moderator(*, share_id: int, actor: AbstractBaseUser) -> tuple[Share, bytes | None]:
    """The share and its photos' key from a report, for a moderator's look; every refusal
    is audited and raised (see moderation_preview)."""
    share = Share.objects.filter(pk=share_id).first()
    if share is None:
        raise ShareNotFound
    if share.is_over or share.photo_deleted_at is not None:
        raise ShareGone(share)
    if share.encrypted and share.key_salt is None:  # shredded: over for good
        raise ShareGone(share)
    refusal = preview_refusal(share)
    secret = _reported_secret(share) if refusal is None and share.encrypted else None
    if refusal is None and share.encrypted and secret is None:
        refusal = NO_KEY_REFUSAL  # every copy was wrapped under an earlier moderation key
    if refusal is not None:
        # Looking is audited, and so is trying to.
        note = str(refusal)
        _record(actor=actor, action=ModerationAction.PREVIEW_REFUSED, share=share, note=note)
        raise PreviewRefused(note)
    return share, secret


def _reported_secret(share: Share) -> bytes | None:
    """The photo's key from the first of the share's reports whose copy still opens."""
    wrapped_keys = (
        share.reports.filter(wrapped_key__isnull=False)
        .order_by("created_at")
        .values_list("wrapped_key", flat=True)
    )
    for wrapped in wrapped_keys:
        try:
            return keyed.moderation_unwrap(wrapped, share_id=share.pk)
        except keyed.UnwrapFailed:
            continue  # wrapped under an earlier SEEN_MODERATION_KEY
    return None


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
