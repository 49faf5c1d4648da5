from django.apps import AppConfig


class SharesConfig(AppConfig):
    name = "shares"
    verbose_name = "Shares"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
