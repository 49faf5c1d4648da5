"""Counters shared by every process, for the rate limits: Redis when REDIS_URL is set, else
a table in the database. One round trip per count.

- Redis: INCRBY and EXPIRE ... NX sent together in one pipeline (the expiry is set only
  when the key is new, so a window is never stretched).
- Database: one upsert, INSERT ... ON CONFLICT DO UPDATE ... RETURNING, which PostgreSQL
  and SQLite (3.35+) both run atomically; no row lock is held across a round trip.

A counter's key names its window, so an old counter is never read again; expired rows are
deleted by `purge` (Redis expires its keys itself).
"""

import functools
from datetime import timedelta

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import RateCounter

ERRORS = (redis.RedisError, OSError)  # plus django.db.DatabaseError, caught by the caller


@functools.cache
def _redis(url: str) -> redis.Redis:
    # One client (and connection pool) per process; redis-py's clients are thread-safe.
    # A Redis that hangs must not hang every request with it.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def _key(key: str) -> str:
    return f"{settings.SEEN_RATE_LIMIT_PREFIX}:{key}"


def add(key: str, delta: int, *, ttl: int) -> int:
    """Add delta to a counter that lives ttl seconds from its first count; the new value."""
    if settings.REDIS_URL:
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
        pipe.incrby(_key(key), delta)
        pipe.expire(_key(key), ttl, nx=True)
        value, _ = pipe.execute()
        return value
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, count, expires_at) VALUES (%s, %s, %s) "
            f"ON CONFLICT (name) DO UPDATE SET count = {table}.count + excluded.count "
            "RETURNING count",
            [key, delta, timezone.now() + timedelta(seconds=ttl)],
        )
        return cursor.fetchone()[0]


def get(key: str) -> int:
    """A counter's value (0 when it was never counted or has expired)."""
    if settings.REDIS_URL:
        return int(_redis(settings.REDIS_URL).get(_key(key)) or 0)
    value = (
        RateCounter.objects.filter(name=key, expires_at__gt=timezone.now())
        .values_list("count", flat=True)
        .first()
    )
    return value or 0


def _glob_escaped(text: str) -> str:
    """text as a Redis MATCH pattern that matches only itself."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def delete_matching(*, start: str, end: str = "") -> int:
    """Delete every counter whose key starts with `start` and ends with `end`; how many
    went. Meant for an operator (manage.py ratelimits_reset), not for requests: in Redis
    it walks the keys under SEEN_RATE_LIMIT_PREFIX with SCAN, which never blocks Redis
    but costs a round trip per thousand keys."""
    if settings.REDIS_URL:
        client = _redis(settings.REDIS_URL)
        pattern = _glob_escaped(_key(start)) + "*" + _glob_escaped(end)
        deleted = 0
        batch: list[bytes] = []
        for name in client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) == 500:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
        return deleted
    deleted, _ = RateCounter.objects.filter(name__startswith=start, name__endswith=end).delete()
    return deleted


def expired_delete() -> int:
    """Delete the database's expired counters; how many went."""
    deleted, _ = RateCounter.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
