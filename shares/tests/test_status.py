"""One definition of a share's status: Share.status for a row, ShareQuerySet for a query,
and the admin's status filter all say the same of every share."""

from datetime import timedelta

import pytest
from django.utils import timezone

from shares import services
from shares.admin import StatusFilter
from shares.models import EndReason, Share, ShareStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_of_each(make_share):
    """A share in every state, plus the corner cases: suspended and then expired, ended
    before its expiry passed."""
    shares = {}
    for name in (
        "live",
        "suspended",
        "expired",
        "suspended_then_expired",
        "ended",
        "ended_and_expired",
    ):
        shares[name] = make_share(views=3).share
    past = timezone.now() - timedelta(minutes=1)
    Share.objects.filter(pk=shares["suspended"].pk).update(suspended_at=past)
    Share.objects.filter(pk=shares["expired"].pk).update(expires_at=past)
    Share.objects.filter(pk=shares["suspended_then_expired"].pk).update(
        suspended_at=past, expires_at=past
    )
    for name in ("ended", "ended_and_expired"):
        services.share_end(share_id=shares[name].pk, reason=EndReason.REVOKED)
    Share.objects.filter(pk=shares["ended_and_expired"].pk).update(expires_at=past)
    return {name: Share.objects.get(pk=share.pk) for name, share in shares.items()}


def test_each_share_has_the_status_its_state_says(one_of_each):
    assert {name: share.status for name, share in one_of_each.items()} == {
        "live": ShareStatus.LIVE,
        "suspended": ShareStatus.SUSPENDED,
        "expired": ShareStatus.EXPIRED,
        "suspended_then_expired": ShareStatus.EXPIRED,
        "ended": ShareStatus.ENDED,
        "ended_and_expired": ShareStatus.ENDED,
    }


@pytest.mark.parametrize("status", ShareStatus.values)
def test_the_query_and_the_row_agree_on_every_status(one_of_each, status):
    by_row = {share.pk for share in one_of_each.values() if share.status == status}
    assert set(Share.objects.with_status(status).values_list("pk", flat=True)) == by_row


@pytest.mark.parametrize("status", ShareStatus.values)
def test_the_admin_filter_lists_what_the_status_column_shows(one_of_each, status, rf):
    request = rf.get("/", {"status": status})
    spec = StatusFilter(request, {"status": [status]}, Share, None)
    listed = set(spec.queryset(request, Share.objects.all()).values_list("pk", flat=True))
    assert listed == {share.pk for share in one_of_each.values() if share.status == status}


def test_over_means_ended_or_expired_and_viewable_means_live(one_of_each):
    over = {share.pk for share in one_of_each.values() if share.is_over}
    assert set(Share.objects.over().values_list("pk", flat=True)) == over
    assert over == {
        one_of_each[name].pk
        for name in ("expired", "suspended_then_expired", "ended", "ended_and_expired")
    }
    assert set(Share.objects.viewable().values_list("pk", flat=True)) == {one_of_each["live"].pk}


def test_a_share_past_its_expiry_is_gone_as_expired(one_of_each, make_share):
    assert one_of_each["expired"].over_reason == EndReason.EXPIRED
    assert one_of_each["ended_and_expired"].over_reason == EndReason.REVOKED
    created = make_share(views=3)
    Share.objects.filter(pk=created.share.pk).update(expires_at=timezone.now())
    with pytest.raises(services.ShareGone) as gone:
        services.share_view(token=created.token)
    assert str(gone.value) == EndReason.EXPIRED == "expired"
