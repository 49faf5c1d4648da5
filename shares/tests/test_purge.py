import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shares import photostore, services
from shares.models import EndReason, Share

from .helpers import database_url, expired_rows, put_object, stored_keys, wait_for

# Not transaction=True but where other threads or a process must see the rows (and their
# locks): the photo deletion a revoke leaves for its commit runs inside
# django_capture_on_commit_callbacks(execute=True).
pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)


def purge(*args) -> str:
    out = StringIO()
    call_command("purge", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def s3_calls():
    """Names (and key counts) of the S3 requests the test thread's client sends."""
    calls: list[tuple[str, int]] = []

    def record(params, model, **kwargs):
        keys = len(params.get("Delete", {}).get("Objects", []))
        calls.append((model.name, keys))

    client, _bucket = photostore.s3_bucket()
    events = client.meta.events
    events.register("provide-client-params.s3", record)
    yield calls
    events.unregister("provide-client-params.s3", record)


def test_purge_deletes_expired_and_ended_shares_and_leaves_live_ones(
    make_share, any_storage, django_capture_on_commit_callbacks
):
    live = make_share(views=3, expires_in=604800)
    expiring = make_share(views=3, expires_in=3600)
    revoked = make_share(views=3)
    with django_capture_on_commit_callbacks(execute=True):
        services.share_revoke(manage_token=revoked.manage_token)

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        output = purge()

    assert output.startswith("purged 2 shares, 1 objects, 0 failed, 0 orphans in ")
    assert output.rstrip().endswith(" s")
    assert list(Share.objects.values_list("pk", flat=True)) == [live.share.pk]
    assert stored_keys() == [live.share.photos.get().key]
    assert expiring.share.pk not in Share.objects.values_list("pk", flat=True)


def test_purge_dry_run_deletes_nothing(make_share):
    make_share(expires_in=3600)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        output = purge("--dry-run")
    assert output.startswith("would purge 1 shares, 1 objects, 0 failed, 0 orphans in ")
    assert Share.objects.count() == 1
    assert len(stored_keys()) == 1


def test_purge_help_says_it_is_for_cron():
    from shares.management.commands.purge import Command

    assert "cron" in Command.help


def test_it_deletes_s3_objects_with_one_request_per_thousand_photos(s3_calls):
    rows = expired_rows(1250)
    s3_calls.clear()

    # Rows are claimed 300 at a time, but requests still carry up to 1,000 keys each.
    output = purge("--batch-size", "300")

    assert output.startswith("purged 1250 shares, 1250 objects, 0 failed")
    deletes = [call for call in s3_calls if call[0].startswith("DeleteObject")]
    assert deletes == [("DeleteObjects", 1000), ("DeleteObjects", 250)]
    assert Share.objects.count() == 0
    assert stored_keys() == []
    assert len(rows) == 1250


def test_it_deletes_local_files_in_batches(local_storage):
    expired_rows(30)
    assert len(list((local_storage / "photos").iterdir())) == 30

    output = purge("--batch-size", "7")

    assert output.startswith("purged 30 shares, 30 objects, 0 failed")
    assert stored_keys() == []
    assert Share.objects.count() == 0


def test_a_share_whose_photo_is_already_gone_costs_no_storage_request(make_share, s3_calls):
    created = make_share(views=1)
    services.share_view(token=created.token).stream.close()
    assert Share.objects.get().photo_deleted_at is not None
    s3_calls.clear()

    output = purge()

    assert output.startswith("purged 1 shares, 0 objects, 0 failed")
    assert not [call for call in s3_calls if call[0].startswith("Delete")]
    assert Share.objects.count() == 0


def test_it_claims_rows_with_skip_locked_and_marks_the_claim():
    [share] = expired_rows(1)
    with CaptureQueriesContext(connection) as queries:
        claimed = services._purge_claim(after_pk=0, limit=10)
    assert [row.pk for row in claimed] == [share.pk]
    if connection.vendor == "postgresql":
        assert any("FOR UPDATE SKIP LOCKED" in query["sql"] for query in queries)
    share.refresh_from_db()
    assert share.purge_claimed_until > timezone.now() + timedelta(minutes=10)


@pytest.mark.django_db(transaction=True)  # the lock is held from another connection
@pytest.mark.skipif(
    "postgres" not in settings.DATABASES["default"]["ENGINE"], reason="row locks need PostgreSQL"
)
def test_a_row_locked_elsewhere_is_skipped_not_waited_for():
    locked, free = expired_rows(2)
    free_key = free.photos.get().key
    holding, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic():
            Share.objects.select_for_update().get(pk=locked.pk)
            holding.set()
            release.wait(30)
        connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert holding.wait(10)
    results = []
    purger = threading.Thread(target=lambda: (results.append(purge()), connections.close_all()))
    purger.start()
    purger.join(20)
    finished_while_locked = not purger.is_alive()
    release.set()
    holder.join(10)
    purger.join(20)

    assert finished_while_locked, "purge waited on a row another transaction had locked"
    assert results[0].startswith("purged 1 shares, 1 objects, 0 failed")
    assert list(Share.objects.values_list("pk", flat=True)) == [locked.pk]
    assert stored_keys() == [locked.photos.get().key]
    assert free_key not in stored_keys()


@pytest.mark.django_db(transaction=True)  # two threads, two connections
@pytest.mark.sqlite_too
def test_two_purges_at_once_split_the_work(s3_calls):
    expired_rows(600)
    s3_calls.clear()
    start = threading.Barrier(2)
    outputs = []

    def run():
        start.wait(10)
        try:
            outputs.append(purge("--batch-size", "25"))
        finally:
            connections.close_all()

    workers = [threading.Thread(target=run) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert len(outputs) == 2
    purged = sum(int(out.split()[1]) for out in outputs)
    assert purged == 600
    # Every key went to storage exactly once between the two.
    assert sum(keys for name, keys in s3_calls if name == "DeleteObjects") == 600
    assert Share.objects.count() == 0
    assert stored_keys() == []


def test_a_claim_left_by_a_crashed_purge_is_taken_over_once_it_expires():
    [share] = expired_rows(1)
    Share.objects.update(purge_claimed_until=timezone.now() + timedelta(minutes=15))

    assert purge().startswith("purged 0 shares")
    assert Share.objects.count() == 1

    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert purge().startswith("purged 1 shares, 1 objects")
    assert stored_keys() == []


def test_a_photo_still_being_sent_is_kept_until_the_stream_ends_or_an_hour_passes(make_share):
    created = make_share(views=1)
    Share.objects.update(ended_at=timezone.now(), end_reason=EndReason.VIEWED, streams_open=1)

    assert purge().startswith("purged 0 shares")
    assert stored_keys() == [created.share.photos.get().key]

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert purge().startswith("purged 1 shares, 1 objects")
    assert stored_keys() == []


def test_orphans_deletes_only_unreferenced_objects_older_than_an_hour(make_share, any_storage):
    live = make_share(views=3)
    default_storage.save("photos/" + "a" * 32 + ".jpg", ContentFile(b"old orphan"))
    default_storage.save("elsewhere/not-a-photo.txt", ContentFile(b"outside the prefix"))

    with time_machine.travel(timezone.now() + timedelta(minutes=90)):
        fresh = default_storage.save("photos/" + "b" * 32 + ".jpg", ContentFile(b"fresh upload"))
        if any_storage == "local":
            # The file system stamps files with the real clock, not the travelled one.
            os.utime(default_storage.path(fresh), (time.time(), time.time()))
        dry = purge("--orphans", "--dry-run")
        assert "1 orphans" in dry
        assert len(stored_keys()) == 4

        output = purge("--orphans")

    assert output.startswith("purged 0 shares, 0 objects, 0 failed, 1 orphans in ")
    assert stored_keys() == sorted(
        [live.share.photos.get().key, "photos/" + "b" * 32 + ".jpg", "elsewhere/not-a-photo.txt"]
    )
    assert Share.objects.count() == 1


def test_orphans_are_found_across_list_pages():
    for _ in range(1005):
        put_object(f"photos/{secrets.token_hex(16)}.jpg", b"x")
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        output = purge("--orphans")
    assert ", 1005 orphans in " in output
    assert stored_keys() == []


def test_batch_size_must_be_positive():
    with pytest.raises(CommandError):
        purge("--batch-size", "0")


@pytest.mark.django_db(transaction=True)  # a purge process reads the test database
def test_every_loops_and_stops_cleanly_on_sigterm(local_storage, tmp_path):
    """`purge --every` as a container would run it: a real process, stopped by SIGTERM."""
    expired_rows(3)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SEEN_DATA_DIR": str(tmp_path),  # its photos folder is local_storage
        "AWS_STORAGE_BUCKET_NAME": "",
        "SECRET_KEY": "test-only",
        "DEBUG": "false",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), "purge", "--every", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: not Share.objects.exists(), timeout=30)

        # The next round picks up what ended since.
        expired_rows(2)
        assert wait_for(lambda: not Share.objects.exists(), timeout=30)
        assert stored_keys() == []

        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, stderr
    lines = stdout.splitlines()
    assert lines[-1] == "stopped"
    assert any(line.startswith("purged 3 shares, 3 objects, 0 failed") for line in lines)
    assert any(line.startswith("purged 2 shares, 2 objects, 0 failed") for line in lines)
    assert "Traceback" not in stderr


def test_dry_run_with_verbosity_2_lists_each_share_and_object_that_would_go(
    make_share, django_capture_on_commit_callbacks
):
    ended = make_share(views=3)
    with django_capture_on_commit_callbacks(execute=True):
        services.share_revoke(manage_token=ended.manage_token)
    live = make_share(views=3)
    orphan = f"photos/{'c' * 32}.jpg"
    put_object(orphan, b"left by a crash")

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        output = purge("--dry-run", "--orphans", "--verbosity", "2")

    lines = output.splitlines()
    assert f"would delete share {ended.share.pk}" in lines  # its photo went when it ended
    assert f"would delete orphan {orphan}" in lines
    assert not any(str(live.share.photos.get().key) in line for line in lines)
    assert lines[-1].startswith("would purge 1 shares, 0 objects, 0 failed, 1 orphans in ")
    assert stored_keys() == sorted([live.share.photos.get().key, orphan])
    assert Share.objects.count() == 2


def test_a_backlog_whose_photos_are_gone_is_claimed_a_bounded_number_of_rows_at_a_time(
    monkeypatch,
):
    # After a last view the photo is already deleted: such rows cost no DeleteObjects,
    # and counting only photos would claim the whole backlog before deleting any row.
    from shares.services import purge as purge_module

    rows = expired_rows(30, with_objects=False)
    Share.objects.filter(pk__in=[row.pk for row in rows]).update(photo_deleted_at=timezone.now())
    monkeypatch.setattr(purge_module, "DELETE_OBJECTS_MAX", 5)
    claim = purge_module._purge_claim
    held = []

    def counting_claim(**kwargs):
        batch = claim(**kwargs)
        # Rows claimed and not yet deleted, this claim included.
        held.append(Share.objects.filter(purge_claimed_until__isnull=False).count())
        return batch

    monkeypatch.setattr(purge_module, "_purge_claim", counting_claim)

    result = services.shares_purge(batch_size=2)

    assert result.shares == 30
    assert Share.objects.count() == 0
    assert max(held) <= 5
