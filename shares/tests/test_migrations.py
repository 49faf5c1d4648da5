"""Migration 0006 (albums) on a database that holds live shares: each one-photo share
becomes a share with one Photo row, and every live link still views its photo."""

import secrets
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from shares import photostore
from shares.models import Share, token_hash

from .helpers import jpeg_bytes, png_bytes, put_object

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("shares", "0005_encryption")]
AFTER = [("shares", "0006_albums")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_albums():
    apps = migrate(BEFORE)
    yield apps
    migrate(executor_leaves())


def executor_leaves():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def old_share(apps, *, data: bytes, content_type: str, views: int | None, **fields):
    """A share as 0005 stored it: the photo's key and facts in the share's own row."""
    OldShare = apps.get_model("shares", "Share")
    token = secrets.token_urlsafe(24)
    salt = photostore.new_salt()
    key = f"photos/{secrets.token_hex(16)}.jpg"
    photostore.save(key=key, data=data, secret=photostore.photo_secret(token=token, salt=salt))
    now = timezone.now()
    share = OldShare.objects.create(
        token_hash=token_hash(token),
        manage_token_hash=token_hash(secrets.token_urlsafe(24)),
        photo_key=key,
        content_type=content_type,
        size_bytes=len(data),
        width=40,
        height=30,
        view_limit=views,
        encrypted=True,
        key_salt=salt,
        created_at=now,
        expires_at=now + timedelta(hours=1),
        **fields,
    )
    return share.pk, token, key, data


def test_every_live_share_keeps_its_photo_through_the_migration(before_albums, client):
    apps = before_albums
    live = [
        old_share(apps, data=jpeg_bytes(), content_type="image/jpeg", views=3),
        old_share(apps, data=png_bytes(), content_type="image/png", views=None),
        old_share(
            apps,
            data=jpeg_bytes(color=(1, 2, 3)),
            content_type="image/jpeg",
            views=1,
            views_used=0,
            streams_open=0,
        ),
    ]

    migrate(AFTER)

    for share_id, token, key, data in live:
        share = Share.objects.get(pk=share_id)
        assert share.photo_count == 1 and not share.has_note
        photo = share.photos.get()
        assert (photo.position, photo.key, photo.size_bytes) == (1, key, len(data))
        response = client.post(f"/s/{token}")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == data
    assert Share.objects.get(pk=live[0][0]).views_used == 1


def test_it_cannot_be_unapplied_while_shares_exist(before_albums, make_share):
    migrate(AFTER)
    make_share()
    with pytest.raises(RuntimeError, match="cannot be unapplied while shares exist"):
        migrate(BEFORE)
