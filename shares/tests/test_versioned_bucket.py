"""On a versioned bucket a plain delete leaves the photo readable by its VersionId: every
way a share ends must delete the versions too (issue 11, item 5)."""

import pytest
from botocore.client import BaseClient
from django.core.management import call_command

from shares import photostore, services
from shares.models import Share

from .helpers import TEST_BUCKET

# Not transaction=True: the deletions a revoke or a PIN lockout leave for their commit run
# inside django_capture_on_commit_callbacks(execute=True).
pytestmark = pytest.mark.django_db


@pytest.fixture
def versioned(s3):
    s3.put_bucket_versioning(Bucket=TEST_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def every_version(s3) -> list[tuple[str, str]]:
    listing = s3.list_object_versions(Bucket=TEST_BUCKET)
    entries = [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    return [(entry["Key"], entry["VersionId"]) for entry in entries]


def uploaded_version(s3, key: str) -> str:
    [(found, version)] = every_version(s3)
    assert found == key
    return version


def assert_unreadable(s3, key: str, version: str) -> None:
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_object(Bucket=TEST_BUCKET, Key=key, VersionId=version)
    assert every_version(s3) == []


def test_the_last_view_deletes_every_version(client, versioned, make_share):
    created = make_share(views=1)
    key = created.share.photos.get().key
    version = uploaded_version(versioned, key)
    response = client.post(f"/s/{created.token}")
    assert response.status_code == 200
    # Reading to the end closes the response, as a WSGI server does: the last view is
    # delivered and the photo goes. (The test client closes it with Django's
    # close_old_connections detached; a second response.close() would not be, and would
    # drop this test's transaction.)
    b"".join(response.streaming_content)
    assert_unreadable(versioned, key, version)
    assert Share.objects.get().photo_deleted_at is not None


def test_revoking_deletes_every_version(
    client, versioned, make_share, django_capture_on_commit_callbacks
):
    created = make_share(views=3)
    key = created.share.photos.get().key
    version = uploaded_version(versioned, key)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/m/{created.manage_token}").status_code == 200
    assert_unreadable(versioned, key, version)


def test_five_wrong_pins_delete_every_version(
    client, versioned, make_share, django_capture_on_commit_callbacks
):
    created = make_share(views=3, pin="4821")
    key = created.share.photos.get().key
    version = uploaded_version(versioned, key)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            client.post(f"/s/{created.token}", {"pin": "0000"})
    assert Share.objects.get().end_reason == "pin"
    assert_unreadable(versioned, key, version)


def test_purge_deletes_every_version_of_expired_photos(versioned, make_share, time_machine):
    created = [make_share(views=1, expires_in=3600) for _ in range(3)]
    versions = [
        (c.share.photos.get().key, v)
        for c in created
        for k, v in every_version(versioned)
        if k == c.share.photos.get().key
    ]
    assert len(versions) == 3
    time_machine.move_to(created[0].share.expires_at + services.STREAM_GRACE)
    call_command("purge")
    for key, version in versions:
        with pytest.raises(versioned.exceptions.ClientError):
            versioned.get_object(Bucket=TEST_BUCKET, Key=key, VersionId=version)
    assert every_version(versioned) == []
    assert not Share.objects.exists()


def test_an_unversioned_bucket_needs_no_listing_of_versions(s3, make_share, monkeypatch):
    created = make_share(views=1)
    calls = []
    real = BaseClient._make_api_call

    def counting(self, operation, params):
        calls.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    assert photostore.delete_many([created.share.photos.get().key]) == {}
    assert calls == ["DeleteObjects"]
