"""The photo store is the only code that talks to S3 or the folder: its callers see
PhotoMissing or StorageUnavailable and nothing else, and a process keeps one S3 client."""

from datetime import timedelta

import pytest
from botocore.client import BaseClient
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from django.utils import timezone

from shares import photostore

from .helpers import TEST_BUCKET, in_threads, put_object

SECRET = bytes(range(32))


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} said the store"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "AnyOperation",
    )


# Every kind of failure botocore raises, and what a caller must see instead.
BOTO_FAILURES = {
    "no such key": client_error("NoSuchKey", 404),
    "access denied": client_error("AccessDenied", 403),
    "no such bucket": client_error("NoSuchBucket", 404),
    "internal error": client_error("InternalError", 500),
    "slow down": client_error("SlowDown", 503),
    "unreachable": EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
    "connect timeout": ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
    "read timeout": ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
    "no credentials": NoCredentialsError(),
}


@pytest.fixture
def failing_s3(s3, monkeypatch):
    def fail_with(error: Exception) -> None:
        def call(client, operation, params):
            raise error

        monkeypatch.setattr(BaseClient, "_make_api_call", call)

    return fail_with


OPERATIONS = {
    "save": lambda: photostore.save(key="photos/a.jpg", data=b"jpg", secret=SECRET),
    "open": lambda: photostore.open_photo("photos/a.jpg", secret=SECRET),
    "check": photostore.check,
    "list": lambda: list(photostore.list_older_than(prefix="photos/", older_than=timezone.now())),
}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("failure", BOTO_FAILURES)
def test_no_botocore_exception_leaves_the_store(failing_s3, operation, failure):
    failing_s3(BOTO_FAILURES[failure])
    missing = operation == "open" and failure == "no such key"
    expected = photostore.PhotoMissing if missing else photostore.StorageUnavailable
    with pytest.raises(expected) as raised:
        OPERATIONS[operation]()
    assert not isinstance(raised.value, (ClientError, OSError))


@pytest.mark.parametrize("failure", BOTO_FAILURES)
def test_a_failed_delete_is_reported_per_key_not_raised(failing_s3, failure):
    failing_s3(BOTO_FAILURES[failure])
    errors = photostore.delete_many(["photos/a.jpg", "photos/b.jpg"])
    assert set(errors) == {"photos/a.jpg", "photos/b.jpg"}


def test_the_error_text_names_the_s3_code_so_failures_can_be_told_apart(failing_s3):
    failing_s3(BOTO_FAILURES["access denied"])
    with pytest.raises(photostore.StorageUnavailable, match="AccessDenied"):
        photostore.save(key="photos/a.jpg", data=b"jpg", secret=SECRET)
    failing_s3(BOTO_FAILURES["no such bucket"])
    with pytest.raises(photostore.StorageUnavailable, match="NoSuchBucket"):
        photostore.save(key="photos/a.jpg", data=b"jpg", secret=SECRET)


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(13, "Permission denied"),
        IsADirectoryError(21, "Is a directory"),
        OSError(28, "No space left on device"),
    ],
)
def test_no_os_error_leaves_the_folder_store(local_storage, monkeypatch, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("django.core.files.storage.FileSystemStorage._open", fail)
    monkeypatch.setattr("django.core.files.storage.FileSystemStorage._save", fail)
    with pytest.raises(photostore.StorageUnavailable):
        photostore.open_photo("photos/a.jpg", secret=SECRET)
    with pytest.raises(photostore.StorageUnavailable):
        photostore.save(key="photos/a.jpg", data=b"jpg", secret=SECRET)


def test_a_missing_file_in_the_folder_is_photo_missing(local_storage):
    with pytest.raises(photostore.PhotoMissing):
        photostore.open_photo("photos/not-there.jpg", secret=SECRET)


def test_a_workers_threads_share_one_s3_client(s3):
    clients = []

    def use_the_store():
        client, bucket = photostore.s3_bucket()
        clients.append(client)
        assert bucket == TEST_BUCKET

    in_threads(use_the_store, 8)
    assert len(clients) == 8 and len({id(client) for client in clients}) == 1
    pool = clients[0].meta.config.max_pool_connections
    assert pool >= 8  # one pooled connection for every thread that may stream at once


def test_storage_objects_of_one_configuration_share_one_client(s3, settings, monkeypatch):
    # A fresh worker's first concurrent requests may each set up default_storage (a
    # LazyObject, without a lock), so one configuration can come as several objects.
    from django.core.files.storage import storages

    clients = set()
    for _ in range(3):
        storage = storages.create_storage(settings.STORAGES["default"])
        monkeypatch.setattr(photostore, "default_storage", storage)
        client, _bucket = photostore.s3_bucket()
        clients.add(id(client))
    assert len(clients) == 1


def test_a_new_storage_configuration_gets_its_own_client(s3, settings):
    from .helpers import s3_storage_settings

    before, _ = photostore.s3_bucket()
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_settings("another-bucket")}
    after, bucket = photostore.s3_bucket()
    assert bucket == "another-bucket" and after is not before


def test_streams_read_in_chunks_and_listing_is_by_age(s3):
    # A plain object, as shares from before encryption have.
    put_object("photos/old.jpg", b"x" * 200_000)
    body = photostore.open_photo("photos/old.jpg", secret=None)
    chunks = list(iter(lambda: body.read(64 * 1024), b""))
    body.close()
    assert [len(chunk) for chunk in chunks][:3] == [65536, 65536, 65536]
    later = timezone.now() + timedelta(minutes=1)
    assert list(photostore.list_older_than(prefix="photos/", older_than=later)) == [
        ["photos/old.jpg"]
    ]
    earlier = timezone.now() - timedelta(minutes=1)
    assert list(photostore.list_older_than(prefix="photos/", older_than=earlier)) == []
