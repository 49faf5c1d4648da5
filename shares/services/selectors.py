"""The reads the pages need, so that views parse, call one function and render.

They change nothing and raise nothing: a missing share is None (or False), and the
caller decides what that answers.
"""

from dataclasses import dataclass
from datetime import datetime

from ..models import Share, token_hash


@dataclass(frozen=True)
class ManagedShare:
    share: Share
    view_times: list[datetime]


def share_by_token(*, token: str) -> Share | None:
    """The share behind a link, whatever its state (the wrong-PIN page shows it again)."""
    return Share.objects.filter(token_hash=token_hash(token)).first()


def share_exists(*, token: str) -> bool:
    """Whether a link names a share that has not been purged."""
    return Share.objects.filter(token_hash=token_hash(token)).exists()


def share_for_manage(*, manage_token: str) -> ManagedShare | None:
    """The share behind a manage link and when each of its views happened (and nothing
    about who viewed it: nothing is stored)."""
    share = Share.objects.filter(manage_token_hash=token_hash(manage_token)).first()
    if share is None:
        return None
    return ManagedShare(
        share=share, view_times=list(share.views.values_list("viewed_at", flat=True))
    )


def share_opened_times(share: Share) -> list[datetime]:
    """When the share's views were spent, oldest first: what its page tells the next
    viewer ("It was opened once before, today at 10:02"). Times only, never who."""
    return list(share.views.order_by("viewed_at").values_list("viewed_at", flat=True))
