import hashlib

from django.db import models
from django.db.models import Q
from django.utils import timezone


def token_hash(token: str) -> str:
    """SHA-256 of a link token: the only form in which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class EndReason(models.TextChoices):
    VIEWED = "viewed", "all views used"
    EXPIRED = "expired", "expired"
    REVOKED = "revoked", "deleted by the sender"
    PIN = "pin", "too many wrong PINs"
    REMOVED = "removed", "removed by a moderator"
    MISSING = "missing", "photo missing from storage"


class ShareQuerySet(models.QuerySet):
    def live(self):
        return self.filter(ended_at__isnull=True, expires_at__gt=timezone.now())

    def ended(self):
        """Shares that no one can open any more: ended, or past their expiry."""
        return self.filter(Q(ended_at__isnull=False) | Q(expires_at__lte=timezone.now()))


class Share(models.Model):
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    manage_token_hash = models.CharField(max_length=64, unique=True, editable=False)

    # Key of the photo's object in storage (local folder or S3); never a URL.
    photo_key = models.CharField(max_length=200, unique=True, editable=False)
    content_type = models.CharField(max_length=50)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    view_limit = models.PositiveSmallIntegerField(null=True, blank=True, help_text="empty = unlimited")
    views_used = models.PositiveIntegerField(default=0)
    # Views spent whose bytes are still being sent: the photo is deleted when the last
    # view has been delivered, not while an earlier viewer is still downloading it.
    streams_open = models.PositiveIntegerField(default=0)
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

    def __str__(self) -> str:
        return f"share {self.pk}"

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
        return self.ended_at is not None or self.is_expired

    @property
    def status(self) -> str:
        if self.ended_at is not None:
            return "ended"
        if self.is_expired:
            return "expired"
        if self.suspended_at is not None:
            return "suspended"
        return "live"

    @property
    def status_text(self) -> str:
        if self.ended_at is not None:
            return f"ended: {self.get_end_reason_display()}"
        return self.status


class ShareView(models.Model):
    """When a view happened. Deliberately nothing about who: no IP, no user agent."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="views")
    viewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["viewed_at"]
