"""What the services raise. Views and commands catch these, never a storage or ORM
exception: the photo store's own (PhotoMissing, PhotoDamaged, StorageUnavailable) are here too."""

from ..models import Share
from ..photostore import PhotoDamaged, PhotoMissing, StorageUnavailable

__all__ = [
    "EndNotAllowed",
    "PhotoDamaged",
    "PhotoFetched",
    "PhotoRefused",
    "PhotoMissing",
    "PinRequired",
    "PreviewRefused",
    "ShareGone",
    "ShareNotFound",
    "ShareSuspended",
    "StorageUnavailable",
    "WrongPin",
]


class ShareNotFound(Exception):
    pass


class ShareGone(Exception):
    def __init__(self, share: Share):
        super().__init__(share.over_reason)
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


class ShareSuspended(Exception):
    """Reports put the share under review: nobody can view it until a moderator acts."""

    def __init__(self, share: Share):
        super().__init__("suspended for review")
        self.share = share


class PreviewRefused(Exception):
    pass


class PhotoRefused(Exception):
    """One photo of an upload is refused (images.InvalidPhoto in `error`); `position` says
    which (1, 2, …). Nothing of the upload was stored."""

    def __init__(self, position: int, error: Exception):
        super().__init__(f"photo {position}: {error}")
        self.position = position
        self.error = error


class PhotoFetched(Exception):
    """A one-time photo address that was already used, or whose window has closed."""


class EndNotAllowed(Exception):
    """A viewer asked to end an unlimited share whose sender did not allow it."""
