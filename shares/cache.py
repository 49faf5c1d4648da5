"""The database cache that holds rate-limit counters when there is no Redis.

Django's DatabaseCache.incr() is a get() followed by a set(): two workers counting at the
same moment both write 4, and the set() also resets the entry's expiry to the cache's
default timeout, so an hourly counter would be forgotten five minutes after the last
request. This one increments under a row lock and keeps the expiry.
"""

import base64
import pickle

from django.core.cache import caches
from django.core.cache.backends import db
from django.core.management import call_command
from django.db import connections, models, router, transaction
from django.utils.timezone import now


class DatabaseCache(db.DatabaseCache):
    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        alias = router.db_for_write(self.cache_model_class)
        connection = connections[alias]
        quote_name = connection.ops.quote_name
        table = quote_name(self._table)
        # SQLite has no FOR UPDATE; its transactions here take the write lock as they
        # begin (transaction_mode IMMEDIATE in settings), which serialises them as well.
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote_name('value')}, {quote_name('expires')} FROM {table} "
                f"WHERE {quote_name('cache_key')} = %s{lock}",
                [key],
            )
            row = cursor.fetchone()
            if row is None or _as_datetime(row[1], connection) < now():
                raise ValueError(f"Key '{key}' not found")
            stored = connection.ops.process_clob(row[0])
            value = pickle.loads(base64.b64decode(stored.encode(), validate=True)) + delta
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(
                f"UPDATE {table} SET {quote_name('value')} = %s "
                f"WHERE {quote_name('cache_key')} = %s",
                [encoded, key],
            )
        return value


def _as_datetime(expires, connection):
    expression = models.Expression(output_field=models.DateTimeField())
    for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(
        connection
    ):
        expires = converter(expires, expression, connection)
    return expires


def create_cache_tables(using: str = "default", **kwargs) -> None:
    """After migrate: create the database cache's table if the settings use one.

    `createcachetable` skips tables that exist, so a fresh machine gets its table from the
    same `migrate` that makes the others and an old one loses nothing.
    """
    if any(isinstance(caches[name], db.BaseDatabaseCache) for name in caches.settings):
        call_command("createcachetable", database=using, verbosity=0)
