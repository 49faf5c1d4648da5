"""The domain operations: the only code that changes a Share.

One module per concern: `lifecycle` (create, show, view, revoke, end, delete the photo),
`moderation` (reports and the moderators' actions), `purge` (what is over, and orphaned
objects), `selectors` (the reads the pages need), `errors` (what all of them raise).
Callers keep `from shares import services` and use the names below.
"""

from .errors import (
    PhotoMissing,
    PinRequired,
    PreviewRefused,
    ShareGone,
    ShareNotFound,
    ShareSuspended,
    StorageUnavailable,
    WrongPin,
)
from .lifecycle import (
    PHOTO_PREFIX,
    VIEW_CHOICES,
    CreatedShare,
    PhotoStream,
    PinAttempts,
    ViewedPhoto,
    new_token,
    photo_delete,
    share_create,
    share_end,
    share_get,
    share_revoke,
    share_view,
)
from .moderation import (
    PreviewPhoto,
    moderation_preview,
    report_create,
    reports_dismiss,
    reports_to_suspend,
    share_remove,
    share_restore,
)
from .purge import (
    DELETE_OBJECTS_MAX,
    ORPHAN_MIN_AGE,
    PURGE_CLAIM,
    STREAM_GRACE,
    PurgeResult,
    _purge_claim,
    orphans_purge,
    purge_candidates,
    shares_purge,
)
from .selectors import ManagedShare, share_by_token, share_exists, share_for_manage

__all__ = [
    "DELETE_OBJECTS_MAX",
    "ORPHAN_MIN_AGE",
    "PHOTO_PREFIX",
    "PinRequired",
    "PURGE_CLAIM",
    "STREAM_GRACE",
    "VIEW_CHOICES",
    "CreatedShare",
    "ManagedShare",
    "PhotoMissing",
    "PhotoStream",
    "PinAttempts",
    "PreviewPhoto",
    "PreviewRefused",
    "PurgeResult",
    "ShareGone",
    "ShareNotFound",
    "ShareSuspended",
    "StorageUnavailable",
    "ViewedPhoto",
    "WrongPin",
    "_purge_claim",
    "moderation_preview",
    "new_token",
    "orphans_purge",
    "photo_delete",
    "purge_candidates",
    "report_create",
    "reports_dismiss",
    "reports_to_suspend",
    "share_by_token",
    "share_create",
    "share_end",
    "share_exists",
    "share_for_manage",
    "share_get",
    "share_remove",
    "share_restore",
    "share_revoke",
    "share_view",
    "shares_purge",
]
