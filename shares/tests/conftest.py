import io
import os

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from moto import mock_aws
from PIL import Image

# moto needs credentials to sign with; these never leave the process.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)

TEST_BUCKET = "seen-test"


def pytest_sessionstart(session):
    """Fail fast, and say why, when the database `make test` needs is not there."""
    _require_redis()
    db = django_settings.DATABASES["default"]
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


# Rate limits are counted in Redis, as in production: a real server, its own database.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _require_redis():
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


@pytest.fixture(autouse=True)
def s3(settings):
    """By default every test stores photos in a moto-mocked S3 bucket."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=TEST_BUCKET)
        settings.STORAGES = {
            "default": s3_storage_settings(),
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        yield client


@pytest.fixture
def local_storage(settings, tmp_path):
    """Photos in a local folder instead (the embedded default)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "photos"), "base_url": None},
        },
    }
    return tmp_path / "photos"


@pytest.fixture(params=["s3", "local"])
def any_storage(request):
    """Run a test once against moto S3 and once against the local folder."""
    if request.param == "local":
        request.getfixturevalue("local_storage")
    return request.param


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
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90, **({"exif": exif} if exif else {}))
    return out.getvalue()


def png_bytes(size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 10, 128)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def jpeg():
    return jpeg_bytes()


@pytest.fixture
def make_share(db):
    """Create a share through the service, as an upload would."""
    from shares import services

    def make(*, views=1, expires_in=86400, pin="", prevent_download=False, photo=None):
        data = photo if photo is not None else jpeg_bytes()
        return services.share_create(
            photo=io.BytesIO(data),
            views=views,
            expires_in=expires_in,
            pin=pin,
            prevent_download=prevent_download,
        )

    return make


@pytest.fixture(autouse=True)
def fast_pin_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def rate_limit_cache(settings):
    """Each test counts its requests in Redis under a key prefix of its own, so no test
    meets another's rate limits; its keys are removed afterwards."""
    import uuid

    import redis

    prefix = f"seen-test-{uuid.uuid4().hex}"
    settings.REDIS_URL = TEST_REDIS_URL
    settings.SEEN_RATE_LIMIT_PREFIX = prefix
    yield prefix
    client = redis.Redis.from_url(TEST_REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def collected_static():
    """Run collectstatic once: a server started as deployed (gunicorn, DEBUG off) serves
    the hashed files it writes, and pages fail without their manifest."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--clear", "-v", "0"],
        cwd=root, check=True, env={**os.environ, "DJANGO_SETTINGS_MODULE": "seen.settings"},
    )
    return root / "staticfiles"


def expired_rows(count: int, *, with_objects: bool = True) -> list:
    """`count` shares that expired an hour ago, inserted in bulk (as 10,000 uploads
    would leave them), each with a small object in storage."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone

    from shares import services
    from shares.models import Share, token_hash

    now = timezone.now()
    rows = []
    for _ in range(count):
        key = f"{services.PHOTO_PREFIX}{secrets.token_hex(16)}.jpg"
        rows.append(
            Share(
                token_hash=token_hash(secrets.token_urlsafe(24)),
                manage_token_hash=token_hash(secrets.token_urlsafe(24)),
                photo_key=key,
                content_type="image/jpeg",
                size_bytes=3,
                width=1,
                height=1,
                view_limit=1,
                created_at=now - timedelta(hours=2),
                expires_at=now - timedelta(hours=1),
            )
        )
        if with_objects:
            put_object(key, b"jpg")
    return Share.objects.bulk_create(rows)


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
