"""The photo store: the only code that knows whether photos live in S3 or in a folder.

It saves, opens for streaming, deletes many and lists old photos. Callers see two errors of
the project's own, never a botocore or OS exception: PhotoMissing when an object is not
there, StorageUnavailable for anything else (the store is down, refuses us, is full).

The configuration is the `default` entry of settings.STORAGES, as django-storages reads it
(S3Storage or FileSystemStorage). On S3 the store does not go through django-storages'
file API, which keeps one boto3 session and resource per thread (about 15 MB each) and
downloads a whole object before the first read. It keeps **one boto3 client per process
and configuration** instead (clients are thread-safe; sessions and resources are not),
with a connection pool as large as a worker's threads, and streams GetObject bodies,
giving each connection back to the pool once a body has been read to its end.
"""

import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.signals import setting_changed
from django.dispatch import receiver

log = logging.getLogger(__name__)

# S3's DeleteObjects takes at most 1,000 keys per request; listings come in pages of this.
BATCH = 1000
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class PhotoMissing(Exception):
    """The photo's object is not in the store."""


class StorageUnavailable(Exception):
    """The store could not do what was asked (down, refused, misconfigured)."""


def describe(exc: BaseException) -> str:
    """An error in a line for logs and the purge record: its kind and, for S3, its code,
    so AccessDenied and NoSuchBucket do not look the same."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}"[:500]
    return f"{exc.__class__.__name__}: {exc}"[:500]


# --- S3 ----------------------------------------------------------------------------------


class _Bucket:
    def __init__(self, client, name: str):
        self.client = client
        self.name = name


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def _s3() -> _Bucket | None:
    """The process's S3 client and bucket, or None when photos are in a folder."""
    storage = default_storage
    name = getattr(storage, "bucket_name", None)
    if name is None:
        return None
    key = (
        name,
        storage.endpoint_url,
        storage.region_name,
        storage.access_key,
        storage.secret_key,
        storage.security_token,
        # By value: botocore's Config has no repr of its own ("<Config object at 0x…>"),
        # and a fresh worker's first requests can each build their own storage object
        # (default_storage is a LazyObject, set up without a lock): keyed by identity,
        # 8 concurrent first views made up to 8 clients of ~15 MB each.
        repr(sorted(vars(storage.client_config).items())),
    )
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _new_client(storage)
                _clients[key] = client
    return _Bucket(client, name)


def _new_client(storage):
    config = storage.client_config.merge(
        Config(
            # One connection per thread that may stream at once, and a few for deletes.
            max_pool_connections=settings.SEEN_S3_MAX_CONNECTIONS,
            # Uploads still carry a CRC32 the server checks. Downloads are not checked
            # again here: the bytes come over TLS from a store that verified them on write,
            # and a full-object checksum could only be compared after the last byte has
            # already been sent to the viewer.
            response_checksum_validation="when_required",
        )
    )
    session = boto3.session.Session(
        aws_access_key_id=storage.access_key,
        aws_secret_access_key=storage.secret_key,
        aws_session_token=storage.security_token,
    )
    return session.client(
        "s3",
        region_name=storage.region_name,
        endpoint_url=storage.endpoint_url,
        use_ssl=storage.use_ssl,
        verify=storage.verify,
        config=config,
    )


@receiver(setting_changed)
def _forget_clients(*, setting: str, **kwargs) -> None:
    if setting == "STORAGES":
        with _clients_lock:
            _clients.clear()


def s3_bucket() -> tuple[object, str] | None:
    """(boto3 client, bucket name) for bucket administration (setup_bucket), or None when
    photos are kept in a folder."""
    bucket = _s3()
    return None if bucket is None else (bucket.client, bucket.name)


# --- the operations --------------------------------------------------------------------------


def save(*, key: str, data: bytes) -> None:
    """Store a new photo under `key` (random, so it never overwrites one)."""
    bucket = _s3()
    try:
        if bucket is not None:
            bucket.client.put_object(Bucket=bucket.name, Key=key, Body=data)
        else:
            default_storage.save(key, ContentFile(data))
    except (OSError, BotoCoreError, ClientError) as exc:
        log.error("photo upload failed: %s", describe(exc))
        raise StorageUnavailable(describe(exc)) from exc


class PhotoBody:
    """A photo being read from the store, chunk by chunk.

    On S3 the answer's headers have arrived when this exists, so a store that fails
    has failed before anything is spent. Closing it after the last byte gives the
    connection back to the pool; closing it early (a viewer who went away) drops it.
    """

    def __init__(self, stream, *, s3: bool):
        self._stream = stream
        if not s3:
            # Local files: lets the server use sendfile().
            self.fileno = stream.fileno

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
        except (OSError, BotoCoreError, ClientError) as exc:
            # Too late for a clean answer (bytes are already on their way): the
            # connection is cut, which a viewer sees as an incomplete download.
            raise OSError(f"reading the photo failed: {describe(exc)}") from None
        return data

    def close(self) -> None:
        # Read to its end, an S3 body has already given its connection back to the pool
        # (urllib3 releases it at the end of the body), and closing it leaves that pooled
        # connection open; closed early (a viewer who went away), it drops the connection,
        # whose unread rest could not be reused.
        self._stream.close()


def open_photo(key: str) -> PhotoBody:
    """Open a photo for streaming. Raises PhotoMissing or StorageUnavailable."""
    bucket = _s3()
    try:
        if bucket is not None:
            body = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"]
            return PhotoBody(body, s3=True)
        return PhotoBody(default_storage.open(key, "rb"), s3=False)
    except FileNotFoundError:
        raise PhotoMissing(key) from None
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
            raise PhotoMissing(key) from None
        raise StorageUnavailable(describe(exc)) from exc
    except (OSError, BotoCoreError) as exc:
        raise StorageUnavailable(describe(exc)) from exc


def check() -> None:
    """Raise StorageUnavailable unless the store answers (for /healthz)."""
    bucket = _s3()
    try:
        if bucket is not None:
            bucket.client.head_bucket(Bucket=bucket.name)
        else:
            default_storage.exists("healthz")
    except (OSError, BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(describe(exc)) from exc


def delete_many(keys: list[str]) -> dict[str, str]:
    """Delete photos: on S3 with DeleteObjects requests of up to 1,000 keys (and, on a
    versioned bucket, every version of them), in a folder file by file. Returns
    {key: error} for every photo that is not confirmed gone; one that was already missing
    counts as gone."""
    if not keys:
        return {}
    bucket = _s3()
    if bucket is None:
        errors = {}
        for key in keys:
            try:
                default_storage.delete(key)  # a missing file is not an error
            except OSError as exc:
                errors[key] = describe(exc)
        return errors
    errors: dict[str, str] = {}
    hidden: list[str] = []
    for chunk in _chunks(keys):
        try:
            response = bucket.client.delete_objects(
                Bucket=bucket.name,
                # Not quiet: the answer says which deletes only laid a delete marker.
                Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": False},
            )
        except (BotoCoreError, ClientError) as exc:
            errors.update(dict.fromkeys(chunk, describe(exc)))
            continue
        errors.update(_delete_errors(response))
        # On a versioned bucket a delete only hides the object behind a delete marker; the
        # photo stays readable by its VersionId. Its versions are deleted as well.
        hidden += [done["Key"] for done in response.get("Deleted", []) if done.get("DeleteMarker")]
    if hidden:
        errors.update(_versions_delete(bucket, hidden))
    return errors


def _versions_delete(bucket: _Bucket, keys: list[str]) -> dict[str, str]:
    """Delete every version and delete marker of these keys; {key: error} for failures."""
    errors: dict[str, str] = {}
    versions = []
    paginator = bucket.client.get_paginator("list_object_versions")
    for key in keys:
        try:
            for page in paginator.paginate(Bucket=bucket.name, Prefix=key):
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    if entry["Key"] == key:  # the prefix also matches longer keys
                        versions.append({"Key": key, "VersionId": entry["VersionId"]})
        except (BotoCoreError, ClientError) as exc:
            errors[key] = describe(exc)
    for chunk in _chunks(versions):
        try:
            response = bucket.client.delete_objects(
                Bucket=bucket.name, Delete={"Objects": chunk, "Quiet": True}
            )
        except (BotoCoreError, ClientError) as exc:
            errors.update(dict.fromkeys((version["Key"] for version in chunk), describe(exc)))
            continue
        errors.update(_delete_errors(response))
    return errors


def _chunks(items: list) -> Iterator[list]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _delete_errors(response: dict) -> dict[str, str]:
    return {
        error["Key"]: f"{error.get('Code', 'Error')}: {error.get('Message', '')}"[:500]
        for error in response.get("Errors", [])
    }


def list_older_than(*, prefix: str, older_than: datetime) -> Iterator[list[str]]:
    """Keys under `prefix` last written before `older_than`, in lists of up to 1,000.
    Raises StorageUnavailable."""
    bucket = _s3()
    try:
        if bucket is not None:
            yield from _s3_listing(bucket, prefix, older_than)
        else:
            yield from _folder_listing(prefix, older_than)
    except (OSError, BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(describe(exc)) from exc


def _s3_listing(bucket: _Bucket, prefix: str, older_than: datetime) -> Iterator[list[str]]:
    pages = bucket.client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket.name, Prefix=prefix, PaginationConfig={"PageSize": BATCH}
    )
    for page in pages:
        contents = page.get("Contents", [])
        keys = [obj["Key"] for obj in contents if obj["LastModified"] < older_than]
        if keys:
            yield keys


def _folder_listing(prefix: str, older_than: datetime) -> Iterator[list[str]]:
    try:
        entries = os.scandir(default_storage.path(prefix))
    except FileNotFoundError:
        return
    keys = []
    with entries:
        for entry in entries:
            if not entry.is_file():
                continue
            modified = datetime.fromtimestamp(entry.stat().st_mtime, tz=UTC)
            if modified < older_than:
                keys.append(prefix + entry.name)
            if len(keys) == BATCH:
                yield keys
                keys = []
    if keys:
        yield keys
