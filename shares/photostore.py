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

Every photo is stored encrypted (see "Sealed objects" below): callers pass the secret
derived from the share's link (photo_secret), and plain bytes never reach the folder, the
bucket or a temporary file. Shares created before encryption have plain objects, opened
with secret=None until they end.
"""

import contextlib
import io
import logging
import os
import secrets
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.signals import setting_changed
from django.dispatch import receiver
from nacl import bindings as sodium
from nacl.exceptions import CryptoError

log = logging.getLogger(__name__)

# S3's DeleteObjects takes at most 1,000 keys per request; listings come in pages of this.
BATCH = 1000
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class PhotoMissing(Exception):
    """The photo's object is not in the store."""


class StorageUnavailable(Exception):
    """The store could not do what was asked (down, refused, misconfigured)."""


class PhotoDamaged(PhotoMissing):
    """The object is there but is not this photo: it fails authentication (a flipped
    bit, a truncated or reordered object, another share's object, or not sealed at all).
    For a viewer it is as gone as a missing one, hence the subclass."""


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


# --- Sealed objects ------------------------------------------------------------------------
#
# libsodium's secretstream (XChaCha20-Poly1305, crypto_secretstream_xchacha20poly1305) via
# PyNaCl: a reviewed streaming AEAD that authenticates each chunk, their order and the end
# of the stream, so a flipped bit, reordered or dropped chunks and a truncated object are
# all refused. An object is
#
#     b"SEEN" | version (1 byte, 1) | plain bytes per chunk (uint32, big-endian)
#     | secretstream header (24 bytes) | chunk 1 | ... | chunk n (tagged FINAL)
#
# each chunk being CHUNK plain bytes (the last one fewer) plus 17 bytes of tag. Every
# chunk's associated data is the first 9 bytes and the object's key, so an object moved
# under another key is refused too (another share's object fails anyway: its secret
# differs). A later format gets another version byte and lives beside this one.

MAGIC = b"SEEN"
FORMAT_VERSION = 1
CHUNK = 64 * 1024
_PREFIX = struct.Struct(">4sBI")
_HEADER_BYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_TAG_BYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
SALT_BYTES = 32
_SECRET_PURPOSE = b"seen.photostore.photo-secret v1"


def new_salt() -> bytes:
    """A share's random salt, kept in its row while the share lives (erasing it makes the
    photo unreadable: crypto-shredding)."""
    return secrets.token_bytes(SALT_BYTES)


def photo_secret(*, token: str, salt: bytes) -> bytes:
    """The key a share's photos are sealed with: HKDF-SHA256 over the link token, with the
    share's salt and a purpose label of its own. Nothing stored holds the token, and the
    SHA-256 that looks a share up is a different function of it, so neither the database
    nor the bucket yields this key."""
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=salt, info=_SECRET_PURPOSE)
    return hkdf.derive(token.encode())


def _associated_data(prefix: bytes, key: str) -> bytes:
    return prefix + key.encode()


def seal(data: bytes, *, secret: bytes, key: str) -> bytes:
    """`data` encrypted for storage under `key` (the format above)."""
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, CHUNK)
    ad = _associated_data(prefix, key)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    parts = [prefix, sodium.crypto_secretstream_xchacha20poly1305_init_push(state, secret)]
    view = memoryview(data)
    last = max(len(data) - 1, 0) // CHUNK * CHUNK  # where the final chunk starts
    for start in range(0, last + 1, CHUNK):
        tag = _TAG_FINAL if start == last else _TAG_MESSAGE
        chunk = bytes(view[start : start + CHUNK])
        parts.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, ad, tag))
    return b"".join(parts)


class _Opener:
    """Reads a sealed object chunk by chunk and decrypts it; raises PhotoDamaged."""

    def __init__(self, stream, *, secret: bytes, key: str):
        self._stream = stream
        prefix = _read_exact(stream, _PREFIX.size)
        if len(prefix) < _PREFIX.size:
            raise PhotoDamaged("shorter than a sealed object's header")
        magic, version, chunk = _PREFIX.unpack(prefix)
        if magic != MAGIC or version != FORMAT_VERSION or not 0 < chunk <= 16 * CHUNK:
            raise PhotoDamaged("not a sealed object of a known format")
        header = _read_exact(stream, _HEADER_BYTES)
        if len(header) < _HEADER_BYTES:
            raise PhotoDamaged("truncated in its header")
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        try:
            sodium.crypto_secretstream_xchacha20poly1305_init_pull(self._state, header, secret)
        except CryptoError:
            raise PhotoDamaged("bad stream header") from None
        self._ad = _associated_data(prefix, key)
        self._sealed_chunk = chunk + _TAG_BYTES
        self.finished = False

    def next_chunk(self) -> bytes:
        """The next chunk's plain bytes (b"" once the final chunk has been read)."""
        if self.finished:
            return b""
        sealed = _read_exact(self._stream, self._sealed_chunk)
        try:
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
                self._state, sealed, self._ad
            )
        except (CryptoError, ValueError):
            raise PhotoDamaged("a chunk fails authentication (altered, reordered or cut)") from None
        if tag == _TAG_FINAL:
            self.finished = True
            if self._stream.read(1):
                raise PhotoDamaged("bytes after the final chunk")
        elif len(sealed) < self._sealed_chunk:
            raise PhotoDamaged("truncated: the stream ends before its final chunk")
        return plain


def unseal(sealed: bytes, *, secret: bytes, key: str) -> bytes:
    """seal's `data` back, from its sealed bytes held in memory (a share's note); raises
    PhotoDamaged for bytes that are not exactly what seal wrote under this secret and key."""
    opener = _Opener(io.BytesIO(bytes(sealed)), secret=secret, key=key)
    parts = []
    while not opener.finished:
        parts.append(opener.next_chunk())
    return b"".join(parts)


def _read_exact(stream, size: int) -> bytes:
    """`size` bytes, or fewer only at the end of the stream (reads may come back short)."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


# --- the operations --------------------------------------------------------------------------


def save(*, key: str, data: bytes, secret: bytes) -> None:
    """Seal a new photo with `secret` (photo_secret) and store it under `key` (random, so it
    never overwrites one). Only the sealed bytes leave this process."""
    data = seal(data, secret=secret, key=key)
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
    """A photo being read from the store, chunk by chunk, decrypted as it goes.

    On S3 the answer's headers have arrived when this exists, and a sealed photo's first
    chunk has been read and authenticated, so a store that fails or an object that is not
    this photo has failed before anything is spent. Closing it after the last byte gives
    the connection back to the pool; closing it early (a viewer who went away) drops it.
    `damaged` is set when a later chunk fails authentication.
    """

    def __init__(self, stream, *, s3: bool, secret: bytes | None = None, key: str = ""):
        self._stream = stream
        self.damaged = False
        self._opener = None
        self._buffer = b""
        if secret is None:
            if not s3:
                # A plain local file (a share from before encryption): sendfile() may send it.
                self.fileno = stream.fileno
            return
        try:
            self._opener = _Opener(stream, secret=secret, key=key)
            self._buffer = self._opener.next_chunk()
        except BaseException:
            stream.close()
            raise

    def read(self, size: int = -1) -> bytes:
        try:
            if self._opener is None:
                return self._stream.read(size)
            if not self._buffer:
                self._buffer = self._opener.next_chunk()
        except (OSError, BotoCoreError, ClientError) as exc:
            # Too late for a clean answer (bytes are already on their way): the
            # connection is cut, which a viewer sees as an incomplete download.
            raise OSError(f"reading the photo failed: {describe(exc)}") from None
        except PhotoDamaged as exc:
            # The same, and never a clean end: a viewer must not take a cut or altered
            # photo for a whole one.
            self.damaged = True
            raise OSError(f"the photo is damaged: {exc}") from None
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        # Read to its end, an S3 body has already given its connection back to the pool
        # (urllib3 releases it at the end of the body), and closing it leaves that pooled
        # connection open; closed early (a viewer who went away), it drops the connection,
        # whose unread rest could not be reused.
        self._stream.close()


def open_photo(key: str, *, secret: bytes | None) -> PhotoBody:
    """Open a photo for streaming: sealed with `secret`, or a plain object from before
    encryption when secret is None. Raises PhotoMissing, PhotoDamaged (the first chunk
    fails authentication) or StorageUnavailable."""
    bucket = _s3()
    with _reading(key):
        if bucket is not None:
            body = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"]
            return PhotoBody(body, s3=True, secret=secret, key=key)
        return PhotoBody(default_storage.open(key, "rb"), s3=False, secret=secret, key=key)


@contextlib.contextmanager
def _reading(key: str):
    """A store's errors on reading `key` as this module's: PhotoMissing when the object is
    not there, StorageUnavailable for anything else."""
    try:
        yield
    except FileNotFoundError:
        raise PhotoMissing(key) from None
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
            raise PhotoMissing(key) from None
        raise StorageUnavailable(describe(exc)) from exc
    except (OSError, BotoCoreError) as exc:
        raise StorageUnavailable(describe(exc)) from exc


def sealed_size(size: int) -> int:
    """How many bytes seal() writes for `size` plain bytes."""
    chunks = max(size - 1, 0) // CHUNK + 1
    return _PREFIX.size + _HEADER_BYTES + size + chunks * _TAG_BYTES


def check_present(sizes: dict[str, int | None]) -> None:
    """Make sure each object ({key: its sealed size, or None when not known}) is in the
    store, with that size, without reading it: one HEAD each on S3, a stat in a folder.
    Raises PhotoMissing, PhotoDamaged (another size: cut short or replaced) or
    StorageUnavailable. An album's view checks its photos so before it is spent."""
    bucket = _s3()
    for key, expected in sizes.items():
        with _reading(key):
            if bucket is not None:
                size = bucket.client.head_object(Bucket=bucket.name, Key=key)["ContentLength"]
            else:
                size = default_storage.size(key)
        if expected is not None and size != expected:
            raise PhotoDamaged(f"{size} bytes where {expected} were stored")


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
