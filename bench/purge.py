"""How many S3 requests and how long `purge` takes for 10,000 expired shares, beside
deleting the same number of objects one request each, measured in the same run.

Starts moto's S3 server on 127.0.0.1 (a free port), migrates its own database (a fresh
PostgreSQL database `seen_bench_purge`, or a temporary SQLite file with --sqlite),
bulk-inserts N expired shares and uploads one small object for each, then:

- purge:      `manage.py purge` (default batch size), timed, with every HTTP request
              its S3 client sends counted (a botocore before-send hook);
- one-by-one: N fresh objects deleted with one DeleteObject request each (what a
              purge without DeleteObjects does), timed and counted the same way.

Prints both, their ratio, and whether the targets hold: at most 15 delete requests
for 10,000 shares, and purge at least 10x faster than one-by-one. Exits 1 if not.

    .venv/bin/python bench/purge.py [--shares 10000] [--sqlite]
"""

import argparse
import logging
import os
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres:postgres@127.0.0.1:5432")
BENCH_DB = "seen_bench_purge"
BUCKET = "seen-bench-purge"


def fresh_postgres() -> str:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return f"{PG_URL}/{BENCH_DB}"


def drop_postgres() -> None:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


class RequestCounter:
    """Counts the HTTP requests a botocore client sends, by method."""

    def __init__(self, client):
        self.client = client
        self.sent: list[tuple[str, str]] = []
        client.meta.events.register("before-send.s3", self._record)

    def _record(self, request, **kwargs):
        self.sent.append((request.method, request.url))

    def reset(self) -> None:
        self.sent.clear()

    @property
    def deletes(self) -> int:
        return sum(1 for method, url in self.sent if method == "DELETE" or url.endswith("?delete"))


def upload_objects(keys: list[str]) -> None:
    """Put the objects straight into the moto server's store (it runs in this process):
    set-up is not what is measured, and 10,000 PUTs over HTTP would take a minute."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(BUCKET, key, b"\xff\xd8 bench photo \xff\xd9")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", type=int, default=10_000)
    parser.add_argument(
        "--sqlite", action="store_true", help="use a temporary SQLite file instead of PostgreSQL"
    )
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    # The server's access log would print a line per request, 20,000 of them.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    tmp = tempfile.TemporaryDirectory(prefix="seen-bench-purge-")
    database_url = f"sqlite:///{tmp.name}/bench.sqlite3" if args.sqlite else fresh_postgres()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "seen.settings",
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": database_url,
            "SEEN_DATA_DIR": tmp.name,
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
        }
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        return run(args.shares, database_url)
    finally:
        from django.db import connections

        connections.close_all()
        server.stop()
        if not args.sqlite:
            drop_postgres()
        tmp.cleanup()


def run(count: int, database_url: str) -> int:
    import django

    django.setup()
    from django.core.files.storage import default_storage
    from django.core.management import call_command
    from django.utils import timezone

    from shares.models import Photo, Share, token_hash

    call_command("migrate", verbosity=0)
    from shares import photostore

    # The photo store's own client: purge's requests go through it, and are counted on it.
    client, _bucket = photostore.s3_bucket()
    client.create_bucket(Bucket=BUCKET)
    engine = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    print(f"moto server {default_storage.endpoint_url}, {engine} database, {count} shares")

    started = time.monotonic()
    now = timezone.now()
    keys = [f"photos/{secrets.token_hex(16)}.jpg" for _ in range(count)]
    upload_objects(keys)
    shares = Share.objects.bulk_create(
        (
            Share(
                token_hash=token_hash(secrets.token_urlsafe(24)),
                manage_token_hash=token_hash(secrets.token_urlsafe(24)),
                view_limit=1,
                created_at=now - timedelta(days=2),
                expires_at=now - timedelta(days=1),
            )
            for _key in keys
        ),
        batch_size=1000,
    )
    Photo.objects.bulk_create(
        (
            Photo(
                share=share,
                position=1,
                key=key,
                content_type="image/jpeg",
                size_bytes=20,
                width=1,
                height=1,
            )
            for share, key in zip(shares, keys, strict=True)
        ),
        batch_size=1000,
    )
    print(f"set-up: {count} expired shares and objects in {time.monotonic() - started:.1f} s")

    counter = RequestCounter(client)
    out = StringIO()
    started = time.monotonic()
    call_command("purge", stdout=out)
    purge_seconds = time.monotonic() - started
    purge_requests, purge_deletes = len(counter.sent), counter.deletes
    left_rows = Share.objects.count()
    left_objects = client.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
    print(f"purge says: {out.getvalue().strip()}")
    print(
        f"purge:      {purge_seconds:7.2f} s, {purge_requests} S3 requests "
        f"({purge_deletes} delete requests); left {left_rows} rows, {left_objects} objects"
    )

    fresh = [f"photos/{secrets.token_hex(16)}.jpg" for _ in range(count)]
    upload_objects(fresh)
    assert client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == min(count, 1000)
    counter.reset()
    started = time.monotonic()
    for key in fresh:  # what deleting photo by photo costs: one DeleteObject each
        client.delete_object(Bucket=BUCKET, Key=key)
    single_seconds = time.monotonic() - started
    single_requests, single_deletes = len(counter.sent), counter.deletes
    left_single = client.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
    print(
        f"one-by-one: {single_seconds:7.2f} s, {single_requests} S3 requests "
        f"({single_deletes} delete requests); left {left_single} objects"
    )

    speedup = single_seconds / purge_seconds if purge_seconds else float("inf")
    print(
        f"ratio: purge is {speedup:.1f}x faster, with "
        f"{single_deletes / max(purge_deletes, 1):.0f}x fewer delete requests"
    )
    budget = max(15, 15 * count // 10_000)
    requests_ok = purge_deletes <= budget
    speed_ok = speedup >= 10
    clean = left_rows == 0 and left_objects == 0 and left_single == 0
    print(f"target <= {budget} delete requests: {'met' if requests_ok else 'MISSED'}")
    print(f"target >= 10x faster than one-by-one: {'met' if speed_ok else 'MISSED'}")
    if not clean:
        print("something was left behind")
    return 0 if requests_ok and speed_ok and clean else 1


if __name__ == "__main__":
    sys.exit(main())
