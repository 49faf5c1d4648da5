from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SharesConfig(AppConfig):
    name = "shares"
    verbose_name = "Shares"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
        from .cache import create_cache_tables

        # Rate-limit counters live in a database table when there is no Redis.
        post_migrate.connect(create_cache_tables, sender=self)
