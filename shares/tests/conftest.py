"""The suite's fixtures. Plain helpers and constants are in helpers.py.

Only tests that use the database get the moto bucket and their own Redis prefix, and only
a run that collects such a test checks that PostgreSQL and Redis are there: the tests of
the Django-free parts (images.py) run on a machine without either."""

import io
import os

import boto3
import pytest
from moto import mock_aws

from .deployed import nginx_binary
from .helpers import (
    TEST_BUCKET,
    TEST_REDIS_URL,
    jpeg_bytes,
    require_postgres,
    require_redis,
    s3_storage_settings,
)

# moto needs credentials to sign with; these never leave the process.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)

# Any of these in a test's fixture closure means it reaches the test database.
DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "live_server",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
}


def uses_database(item) -> bool:
    return item.get_closest_marker("django_db") is not None or bool(
        DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
    )


def uses_redis(item) -> bool:
    return uses_database(item) or "rate_limit_cache" in getattr(item, "fixturenames", ())


def pytest_sessionstart(session):
    """The pages read the compiled catalogues (.mo, never committed): compile them when a
    .po is newer than its .mo, as `make test` does, so a plain `pytest` tests the same."""
    from pathlib import Path

    from django.conf import settings

    stale = [
        po
        for po in Path(settings.BASE_DIR, "locale").glob("*/LC_MESSAGES/*.po")
        if not po.with_suffix(".mo").exists()
        or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]
    if stale:
        from django.core.management import call_command

        call_command("compilemessages", locale=sorted({po.parts[-3] for po in stale}), verbosity=0)


def pytest_collection_finish(session):
    """Fail fast, and say why, when a collected test needs a server that is not there
    (after collection, so that a run of only the Django-free tests needs neither)."""
    if any(uses_redis(item) for item in session.items):
        require_redis()
    if any(uses_database(item) for item in session.items):
        require_postgres()


@pytest.fixture(autouse=True)
def services_for_database_tests(request):
    """A test that uses the database goes through the app, so it gets what the app
    stores in: the moto bucket and its own Redis prefix. Other tests ask for these by
    name when they want them."""
    if uses_database(request.node):
        request.getfixturevalue("s3")
        request.getfixturevalue("rate_limit_cache")


@pytest.fixture
def s3(settings):
    """Photos in a moto-mocked S3 bucket (every test that uses the database gets it)."""
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
    request.getfixturevalue("local_storage" if request.param == "local" else "s3")
    return request.param


@pytest.fixture
def jpeg():
    return jpeg_bytes()


@pytest.fixture
def make_share(db):
    """Create a share through the service, as an upload would."""
    from shares import services

    def make(
        *,
        views=1,
        expires_in=86400,
        pin="",
        prevent_download=False,
        photo=None,
        photos=None,
        note="",
        viewer_can_end=False,
    ):
        """One photo (`photo`, bytes; a JPEG by default) or an album (`photos`, a list)."""
        if photos is None:
            photos = [photo if photo is not None else jpeg_bytes()]
        return services.share_create(
            photos=[io.BytesIO(data) for data in photos],
            views=views,
            expires_in=expires_in,
            pin=pin,
            prevent_download=prevent_download,
            note=note,
            viewer_can_end=viewer_can_end,
        )

    return make


@pytest.fixture
def moderator(django_user_model):
    """A staff user whose only rights come from the `moderator` group."""
    import importlib

    from django.apps import apps as django_apps
    from django.contrib.auth.models import Group

    # Transactional tests flush the tables between tests, the migration's group with them:
    # recreate it with the migration's own code (it changes nothing when the group is there).
    migration = importlib.import_module("shares.migrations.0002_moderation")
    migration.create_moderator_group(django_apps, None)
    user = django_user_model.objects.create_user("mod", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="moderator"))
    return user


@pytest.fixture
def moderator_client(client, moderator):
    client.force_login(moderator)
    return client


@pytest.fixture(autouse=True)
def fast_pin_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def rate_limit_cache(settings):
    """Each test counts its requests in Redis under a key prefix of its own, so no test
    meets another's rate limits; its keys are removed afterwards (every test that uses
    the database gets it)."""
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
        cwd=root,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "seen.settings"},
    )
    return root / "staticfiles"


@pytest.fixture
def nginx_installed():
    if nginx_binary() is None:
        message = "nginx is missing: apt-get install nginx"
        if os.environ.get("SEEN_REQUIRE_NGINX"):
            pytest.fail(message + " (SEEN_REQUIRE_NGINX is set, as in .ci/run)")
        pytest.skip(message)
