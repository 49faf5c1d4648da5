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
