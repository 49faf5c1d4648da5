import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def token_hash(token: str) -> str:
    """SHA-256 of a link token: the only form in which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class EndReason(models.TextChoices):
    VIEWED = "viewed", _("all views used")
    EXPIRED = "expired", _("expired")
    REVOKED = "revoked", _("deleted by the sender")
    PIN = "pin", _("too many wrong PINs")
    REMOVED = "removed", _("removed by a moderator")
    MISSING = "missing", _("photo missing from storage")
    DAMAGED = "damaged", _("photo damaged in storage")
    VIEWER = "viewer", _("ended by a viewer")


class ShareStatus(models.TextChoices):
    """Where a share is in its life; exactly one holds at a time (Share.status)."""

    LIVE = "live", _("live")
    SUSPENDED = "suspended", _("suspended")
    EXPIRED = "expired", _("expired")  # past expires_at and never ended otherwise
    ENDED = "ended", _("ended")  # ended_at is set: see end_reason


# The one definition of each status, as a filter. Share.status says the same of one row,
# and Share.is_over / ShareQuerySet.over() are "ended or expired": nobody can view the
# photo again, so purge may delete it.
def _running(now) -> Q:
    return Q(ended_at__isnull=True, expires_at__gt=now)


def _status_filter(status: str, now) -> Q:
    return {
        ShareStatus.LIVE: _running(now) & Q(suspended_at__isnull=True),
        ShareStatus.SUSPENDED: _running(now) & Q(suspended_at__isnull=False),
        ShareStatus.EXPIRED: Q(ended_at__isnull=True, expires_at__lte=now),
        ShareStatus.ENDED: Q(ended_at__isnull=False),
    }[status]


class ShareQuerySet(models.QuerySet):
    def over(self):
        """Shares that no one can open any more: ended, or past their expiry."""
        now = timezone.now()
        return self.filter(
            _status_filter(ShareStatus.ENDED, now) | _status_filter(ShareStatus.EXPIRED, now)
        )

    def viewable(self):
        """Shares whose photo can be viewed now: not over, not suspended."""
        return self.with_status(ShareStatus.LIVE)

    def with_status(self, status: str):
        """Shares whose Share.status is `status` (a ShareStatus)."""
        return self.filter(_status_filter(status, timezone.now()))


class Share(models.Model):
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    manage_token_hash = models.CharField(max_length=64, unique=True, editable=False)

    # How many photos (Photo rows) the share holds; fixed at upload.
    photo_count = models.PositiveSmallIntegerField(default=1, editable=False)
    # The sender's note, sealed under the link's key like the photos (shares.photostore);
    # NULL: no note. Unreadable once key_salt is erased.
    note_sealed = models.BinaryField(max_length=4096, null=True, blank=True, editable=False)
    # On an unlimited share, whether a viewer may end it ("I'm done, delete it now"); a
    # limited share always lets its viewers do that.
    viewer_can_end = models.BooleanField(default=False)

    view_limit = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="empty = unlimited"
    )
    views_used = models.PositiveIntegerField(default=0)
    # Views spent whose bytes are still being sent: the photo is deleted when the last
    # view has been delivered, not while an earlier viewer is still downloading it.
    streams_open = models.PositiveIntegerField(default=0)
    # The photo is sealed (shares.photostore) with a key derived from the link token and
    # this salt. The salt is erased (NULL) in the transaction that ends the share, so from
    # then on nothing, not even the link with an old copy of the object, opens the photo.
    # encrypted=False: a share from before encryption, whose object is plain.
    encrypted = models.BooleanField(default=False, editable=False)
    key_salt = models.BinaryField(max_length=64, null=True, blank=True, editable=False)
    pin_hash = models.CharField(max_length=200, blank=True, editable=False)
    pin_failures = models.PositiveSmallIntegerField(default=0)
    prevent_download = models.BooleanField(default=False)

    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)

    # Set once the photo's object is confirmed gone from storage.
    photo_deleted_at = models.DateTimeField(null=True, blank=True)
    # purge bookkeeping: a claim so two purges never work on one row, and failed deletes.
    purge_claimed_until = models.DateTimeField(null=True, blank=True)
    delete_failures = models.PositiveIntegerField(default=0)
    last_delete_error = models.CharField(max_length=500, blank=True)

    objects = ShareQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # The moderation desk's own rights, so a moderator needs neither change nor delete.
        permissions = [
            ("moderate_share", "Can remove and restore shares and dismiss their reports"),
            ("preview_share", "Can preview a reported share's photo without spending a view"),
        ]

    def __str__(self) -> str:
        return f"share {self.pk}"

    @property
    def has_note(self) -> bool:
        return self.note_sealed is not None

    @property
    def is_album(self) -> bool:
        """Several photos, or a note: a view answers a page (or JSON) of one-time photo
        addresses rather than the image bytes themselves."""
        return self.photo_count > 1 or self.has_note

    @property
    def viewers_can_end(self) -> bool:
        return self.view_limit is not None or self.viewer_can_end

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)

    @property
    def is_unlimited(self) -> bool:
        return self.view_limit is None

    @property
    def views_left(self) -> int | None:
        """Views still allowed, or None when the share is unlimited."""
        if self.view_limit is None:
            return None
        return max(self.view_limit - self.views_used, 0)

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_over(self) -> bool:
        """True once nobody can view the photo again, for whatever reason."""
        return self.status in (ShareStatus.ENDED, ShareStatus.EXPIRED)

    @property
    def over_reason(self) -> str:
        """Why an over share is over: its end reason, or EndReason.EXPIRED for a share that
        was never ended but is past its expiry (that reason is never stored)."""
        return self.end_reason or EndReason.EXPIRED

    @property
    def status(self) -> ShareStatus:
        """The row's ShareStatus, by the same conditions as ShareQuerySet.with_status."""
        if self.ended_at is not None:
            return ShareStatus.ENDED
        if self.is_expired:
            return ShareStatus.EXPIRED
        if self.suspended_at is not None:
            return ShareStatus.SUSPENDED
        return ShareStatus.LIVE

    @property
    def status_text(self) -> str:
        if self.ended_at is not None:
            return _("ended: %(reason)s") % {"reason": self.get_end_reason_display()}
        return str(self.status.label)


class Photo(models.Model):
    """One photo of a share, in the order the sender chose (position 1, 2, …)."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="photos")
    position = models.PositiveSmallIntegerField()
    # Key of the photo's object in storage (local folder or S3); never a URL.
    key = models.CharField(max_length=200, unique=True, editable=False)
    content_type = models.CharField(max_length=50)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        ordering = ["share", "position"]
        constraints = [
            models.UniqueConstraint(fields=["share", "position"], name="photo_position_unique")
        ]

    def __str__(self) -> str:
        return f"photo {self.position} of share {self.share_id}"


class ShareView(models.Model):
    """When a view happened. Deliberately nothing about who: no IP, no user agent.

    A view also holds its secret (only its hash here): the viewer's proof of having
    spent it, for "I'm done, delete it now", and, for an album, the one-time fetch window
    in which each photo's bytes can be fetched once (services.photo_fetch)."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="views")
    viewed_at = models.DateTimeField(default=timezone.now)
    secret_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)
    # The window: open until fetch_until or until every photo was fetched, whichever is
    # first. fetch_key is the photos' key wrapped under the view's secret (keyed.view_wrap),
    # erased when the window closes; `fetched` has bit n-1 set once photo n was fetched.
    window_open = models.BooleanField(default=False)
    fetch_until = models.DateTimeField(null=True, blank=True)
    fetch_key = models.BinaryField(max_length=128, null=True, blank=True, editable=False)
    fetched = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["viewed_at"]
        indexes = [
            models.Index(
                fields=["fetch_until"], condition=Q(window_open=True), name="open_window_idx"
            )
        ]


class ReportReason(models.TextChoices):
    ILLEGAL = "illegal", _("illegal content")
    HARASSMENT = "harassment", _("harassment")
    MALWARE = "malware", _("malware or phishing")
    OTHER = "other", _("other")


class ReportStatus(models.TextChoices):
    OPEN = "open", _("open")
    ACTIONED = "actioned", _("actioned")
    DISMISSED = "dismissed", _("dismissed")


class Report(models.Model):
    """A viewer's abuse report. Nothing that says who sent it is stored.

    Kept when the share is purged: `share` becomes empty and `share_number` still says
    which share it was.
    """

    share = models.ForeignKey(
        Share, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    share_number = models.PositiveBigIntegerField("share id", db_index=True)
    reason = models.CharField(max_length=20, choices=ReportReason.choices)
    # Who sent it, as a keyed hash of their address that means something only within this
    # share (shares.keyed.reporter_hash): two reports from one person count once towards
    # the suspension threshold, and nothing here says who they are.
    reporter = models.CharField(max_length=64, blank=True, editable=False)
    # The photo's key, wrapped for the moderators (shares.keyed.moderation_wrap) when the
    # report was made with the link (and the PIN, if any): the only way a moderator can
    # open the photo. Erased with the share's salt when the share ends.
    wrapped_key = models.BinaryField(max_length=128, null=True, blank=True, editable=False)
    details = models.TextField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(
        max_length=20, choices=ReportStatus.choices, default=ReportStatus.OPEN, db_index=True
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"report {self.pk} on share {self.share_number}"


class ModerationAction(models.TextChoices):
    SUSPENDED = "suspended", _("suspended (reports reached the threshold)")
    RESTORED = "restored", _("restored")
    REMOVED = "removed", _("removed")
    DISMISSED = "dismissed", _("dismissed reports")
    PREVIEWED = "previewed", _("previewed the photo")
    PREVIEW_REFUSED = "preview_refused", _("tried to preview (refused: no key)")


class ModerationEvent(models.Model):
    """The audit log: who did what to which share, and when. Never edited or deleted.

    `actor_name` and `share_number` are copies, so the record still says who and which
    after the user is deleted or the share purged (both references then become empty).
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField("who", max_length=150)
    action = models.CharField(max_length=20, choices=ModerationAction.choices)
    share = models.ForeignKey(
        Share, on_delete=models.SET_NULL, null=True, blank=True, related_name="moderation_events"
    )
    share_number = models.PositiveBigIntegerField("share id", db_index=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} share {self.share_number}"


class RateCounter(models.Model):
    """A rate-limit counter, when there is no Redis (shares/counters.py). Its name holds
    the limit, the window and the client's address; nothing else about anyone."""

    name = models.CharField(max_length=200, primary_key=True)
    count = models.IntegerField()
    expires_at = models.DateTimeField(db_index=True)
