"""setup_bucket on moto's in-process S3 (test_s3_wire.py runs it over HTTP too)."""

from io import StringIO

import pytest
from botocore.exceptions import ClientError
from django.core.management import call_command
from django.core.management.base import CommandError

from .helpers import TEST_BUCKET


def setup_bucket(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("setup_bucket", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_refuses_to_run_on_the_local_folder(local_storage):
    with pytest.raises(CommandError, match="for S3 storage only"):
        setup_bucket()


def test_the_rule_expires_photos_a_day_after_the_longest_share_rounded_up(s3, settings):
    settings.SEEN_EXPIRY_CHOICES = [3600, 90000]  # 25 hours: 2 whole days, + 1

    output, _ = setup_bucket()

    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=TEST_BUCKET)["Rules"]
    assert rule["Expiration"] == {"Days": 3}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "expire 3 days after upload (longest share expiry 2 days + 1)" in output


def test_it_moves_its_rule_when_the_expiry_choices_change_and_keeps_other_rules(s3, settings):
    other = {
        "ID": "logs-cleanup",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket=TEST_BUCKET, LifecycleConfiguration={"Rules": [other]}
    )
    setup_bucket()
    settings.SEEN_EXPIRY_CHOICES = [3600, 86400, 2592000]  # up to 30 days

    output, _ = setup_bucket()

    rules = {
        rule["ID"]: rule
        for rule in s3.get_bucket_lifecycle_configuration(Bucket=TEST_BUCKET)["Rules"]
    }
    assert set(rules) == {"logs-cleanup", "seen-safety-net"}
    assert rules["logs-cleanup"]["Expiration"] == {"Days": 30}
    assert rules["seen-safety-net"]["Expiration"] == {"Days": 31}
    assert "expire 31 days after upload" in output and output.rstrip().endswith(", set")


def test_a_second_run_changes_nothing(s3):
    first, _ = setup_bucket()
    before = s3.get_bucket_lifecycle_configuration(Bucket=TEST_BUCKET)["Rules"]

    second, _ = setup_bucket()

    assert first.count(", set") == 2
    assert second.count(", unchanged") == 2
    assert s3.get_bucket_lifecycle_configuration(Bucket=TEST_BUCKET)["Rules"] == before
    block = s3.get_public_access_block(Bucket=TEST_BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_a_half_open_public_access_block_is_closed(s3):
    s3.put_public_access_block(
        Bucket=TEST_BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )

    output, _ = setup_bucket()

    assert "RestrictPublicBuckets), set" in output
    block = s3.get_public_access_block(Bucket=TEST_BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values())


def test_create_makes_a_missing_bucket_and_without_it_the_command_says_so(s3, settings):
    from .helpers import s3_storage_settings

    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_settings("seen-new-bucket")}
    with pytest.raises(CommandError, match="bucket seen-new-bucket does not exist"):
        setup_bucket()

    output, _ = setup_bucket("--create")

    assert "bucket seen-new-bucket: created" in output
    assert "seen-new-bucket" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


# --- versioned buckets and Object Lock ---------------------------------------------------


def test_on_a_versioned_bucket_the_rule_expires_old_versions_and_says_so_loudly(s3):
    setup_bucket()  # first without versioning: the rule is set...
    s3.put_bucket_versioning(Bucket=TEST_BUCKET, VersioningConfiguration={"Status": "Enabled"})

    output, warning = setup_bucket()  # ...and then it is no longer "unchanged"

    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=TEST_BUCKET)["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert "noncurrent versions expire after 1 day, set" in output
    assert "WARNING versioning is Enabled" in warning
    assert "stays readable by its version ID" in warning
    again, _ = setup_bucket()
    assert again.rstrip().endswith(", unchanged")


def test_a_bucket_with_object_lock_is_refused(s3, settings):
    from .helpers import s3_storage_settings

    s3.create_bucket(Bucket="seen-locked", ObjectLockEnabledForBucket=True)
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_settings("seen-locked")}
    with pytest.raises(CommandError, match="Object Lock"):
        setup_bucket()
    with pytest.raises(ClientError, match="NoSuchLifecycleConfiguration"):  # nothing set on it
        s3.get_bucket_lifecycle_configuration(Bucket="seen-locked")
