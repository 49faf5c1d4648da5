from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from shares import services
from shares.models import Share

from .conftest import stored_keys

pytestmark = pytest.mark.django_db(transaction=True)


def purge(*args) -> str:
    out = StringIO()
    call_command("purge", *args, stdout=out)
    return out.getvalue()


def test_purge_deletes_expired_and_ended_shares_and_leaves_live_ones(make_share, any_storage):
    live = make_share(views=3, expires_in=604800)
    expiring = make_share(views=3, expires_in=3600)
    revoked = make_share(views=3)
    services.share_revoke(manage_token=revoked.manage_token)

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        output = purge()

    assert "purged 2 shares, 1 objects, 0 failed" in output
    assert list(Share.objects.values_list("pk", flat=True)) == [live.share.pk]
    assert stored_keys() == [live.share.photo_key]
    assert expiring.share.pk not in Share.objects.values_list("pk", flat=True)


def test_purge_dry_run_deletes_nothing(make_share):
    make_share(expires_in=3600)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        output = purge("--dry-run")
    assert "would purge 1 shares, 1 objects" in output
    assert Share.objects.count() == 1
    assert len(stored_keys()) == 1


def test_purge_help_says_it_is_for_cron():
    from shares.management.commands.purge import Command

    assert "cron" in Command.help
