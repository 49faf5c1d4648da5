"""Plain helpers and constants the tests share. Fixtures live in conftest.py, which pytest
loads by itself; test modules import what they need from here, never from conftest."""

import io
import os

import pytest
from django.core.files.storage import default_storage
from PIL import Image

TEST_BUCKET = "seen-test"

# Rate limits are counted in Redis, as in production: a real server, its own database.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_postgres() -> None:
    """Stop the run, and say why, when the test database's server is not there."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg

    try:
        psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"],
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL is not reachable at {db['HOST']}:{db['PORT'] or 5432} ({exc}).\n"
            "Start it (bash .ci/run does) or point DATABASE_URL at a server you have.",
            returncode=2,
        )


def require_redis() -> None:
    """Stop the run, and say why, when the Redis the rate limits count in is not there."""
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.exit(
            f"Redis is not reachable at {TEST_REDIS_URL} ({exc}).\n"
            "Start it (bash .ci/run does) or set TEST_REDIS_URL.",
            returncode=2,
        )


def s3_storage_settings(bucket: str = TEST_BUCKET, **options) -> dict:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "signature_version": "s3v4",
            "default_acl": None,
            "file_overwrite": False,
            **options,
        },
    }


def stored_keys() -> list[str]:
    """Every object in the current photo storage."""
    bucket = getattr(default_storage, "bucket", None)
    if bucket is not None:
        return sorted(obj.key for obj in bucket.objects.all())
    root = default_storage.location
    found = []
    for folder, _dirs, files in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return sorted(found)


def jpeg_bytes(size=(64, 48), color=(200, 30, 30), exif=None) -> bytes:
    out = io.BytesIO()
    extra = {"exif": exif} if exif else {}
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90, **extra)
    return out.getvalue()


def png_bytes(size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 10, 128)).save(out, format="PNG")
    return out.getvalue()


def expired_rows(count: int, *, with_objects: bool = True) -> list:
    """`count` shares that expired an hour ago, inserted in bulk (as 10,000 uploads
    would leave them), each with a small object in storage."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone

    from shares import services
    from shares.models import Photo, Share, token_hash

    now = timezone.now()
    rows, keys = [], []
    for _ in range(count):
        key = f"{services.PHOTO_PREFIX}{secrets.token_hex(16)}.jpg"
        keys.append(key)
        rows.append(
            Share(
                token_hash=token_hash(secrets.token_urlsafe(24)),
                manage_token_hash=token_hash(secrets.token_urlsafe(24)),
                view_limit=1,
                created_at=now - timedelta(hours=2),
                expires_at=now - timedelta(hours=1),
            )
        )
        if with_objects:
            put_object(key, b"jpg")
    shares = Share.objects.bulk_create(rows)
    Photo.objects.bulk_create(
        Photo(
            share=share,
            position=1,
            key=key,
            content_type="image/jpeg",
            size_bytes=3,
            width=1,
            height=1,
        )
        for share, key in zip(shares, keys, strict=True)
    )
    return shares


def put_object(key: str, data: bytes) -> None:
    """Store an object directly (one PUT on S3; faster than the storage's upload manager)."""
    from django.core.files.base import ContentFile

    bucket = getattr(default_storage, "bucket", None)
    if bucket is None:
        default_storage.save(key, ContentFile(data))
    else:
        bucket.meta.client.put_object(Bucket=bucket.name, Key=key, Body=data)


def database_url() -> str:
    """The test database as a DATABASE_URL, for processes the tests start."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def wait_for(condition, timeout: float = 10) -> bool:
    """Poll until condition() is true (a server or another process catching up)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def in_threads(target, count: int, *, args: list[tuple] | None = None) -> None:
    """Run target in `count` threads at once (with args[i] for thread i) and wait for all."""
    import threading

    threads = [threading.Thread(target=target, args=args[i] if args else ()) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def stored_photo(share, token: str) -> bytes:
    """The photo as stored, decrypted with the key that only its link holds (the object
    itself is sealed: test_encryption.py)."""
    from shares import photostore

    share.refresh_from_db()
    secret = photostore.photo_secret(token=token, salt=bytes(share.key_salt))
    body = photostore.open_photo(share.photos.get().key, secret=secret)
    try:
        return b"".join(iter(lambda: body.read(1 << 16), b""))
    finally:
        body.close()


def token_in(text: str) -> str:
    """The link token in a share URL, an API answer or a page."""
    import re

    return re.search(r"/s/([A-Za-z0-9_-]{32})", text).group(1)
