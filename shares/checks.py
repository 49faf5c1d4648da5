"""System checks for settings that are valid but dangerous (`manage.py check`, and run by
migrate and runserver; gunicorn logs the same warning when it loads the app)."""

from django.conf import settings
from django.core import checks


def trusted_proxy_count_warning() -> str | None:
    count = settings.SEEN_TRUSTED_PROXIES
    if not isinstance(count, int) or count == 0:
        return None
    return (
        f"SEEN_TRUSTED_PROXIES={count} believes X-Forwarded-For from anyone who can reach "
        "the app's port, so a client that connects to the app directly can pick any address "
        "for every request and escape the rate limits (PIN guessing included). Use a count "
        "only when the app is reachable through the proxy alone (gunicorn bound to "
        "127.0.0.1 or a private network, see deploy/); otherwise list the proxies' "
        "addresses or networks, e.g. SEEN_TRUSTED_PROXIES=127.0.0.1 or 10.0.0.0/8."
    )


@checks.register(checks.Tags.security)
def check_trusted_proxies(app_configs, **kwargs) -> list[checks.CheckMessage]:
    message = trusted_proxy_count_warning()
    if message is None:
        return []
    return [checks.Warning(message, id="seen.W001")]


@checks.register(checks.Tags.security, deploy=True)
def check_moderation_key(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.SEEN_MODERATION_KEY:
        return []
    return [
        checks.Warning(
            "SEEN_MODERATION_KEY is not set, so the moderators' copies of reported photos' "
            "keys are wrapped under a key derived from SECRET_KEY: anyone who learns "
            "SECRET_KEY and copies the database can open every reported photo, and "
            "rotating SECRET_KEY loses them.",
            hint="Set SEEN_MODERATION_KEY to a random value of 32+ characters, kept apart "
            "from SECRET_KEY (python -c 'import secrets; print(secrets.token_urlsafe(48))').",
            id="seen.W002",
        )
    ]
