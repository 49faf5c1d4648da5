"""Rate limits per client address, counted by django-ratelimit in the shared cache.

The limits are in settings.SEEN_RATE_LIMITS (one env variable each). A limited request
answers 429 with Retry-After: a page for browsers, JSON for /api/ and scripts.

The cache is Redis or a database table, shared by every process. If it cannot be reached
the request goes through (and the failure is logged): a share's own 5-wrong-PIN limit
still holds, and an outage of the counters should not become an outage of the service.
"""

import functools
import ipaddress
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CACHE_ERRORS = (RedisError, DatabaseError, OSError)
_UNKNOWN_ADDRESS = "0.0.0.0"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from REMOTE_ADDR or one X-Forwarded-For entry (some proxies add a port)."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The address a request came from, as django-ratelimit counts it.

    REMOTE_ADDR, unless SEEN_TRUSTED_PROXIES says proxies stand in front of the app: then
    the X-Forwarded-For entry those proxies appended. A client can write anything into
    X-Forwarded-For, so only entries added by a trusted proxy are believed.
    """
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    trusted = settings.SEEN_TRUSTED_PROXIES
    forwarded = [
        part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if not trusted or not forwarded:
        return str(remote or _UNKNOWN_ADDRESS)

    if isinstance(trusted, int):
        # N proxies: each appends the address it saw, so the client is the N-th from the
        # right. Fewer entries than proxies: the leftmost is the best we know.
        candidate = _address(forwarded[-min(trusted, len(forwarded))])
        return str(candidate or remote or _UNKNOWN_ADDRESS)

    # A list of proxy addresses: believe X-Forwarded-For only from one of them, and walk
    # it from the right past every proxy; the first other address is the client.
    if remote is None or not any(remote in network for network in trusted):
        return str(remote or _UNKNOWN_ADDRESS)
    client = remote
    for entry in reversed(forwarded):
        address = _address(entry)
        if address is None:
            break  # garbage from the client: the proxy that passed it on is all we know
        client = address
        if not any(address in network for network in trusted):
            break
    return str(client)


def _usage(request: HttpRequest, limit: str, *, increment: bool) -> dict | None:
    rate = settings.SEEN_RATE_LIMITS.get(limit)
    if rate is None:
        return None
    try:
        return get_usage(
            request, group=f"seen.{limit}", key="ip", rate=rate, method=ALL, increment=increment
        )
    except CACHE_ERRORS as exc:
        log.error("rate limit %r not checked, the cache failed: %s", limit, exc.__class__.__name__)
        return None


def too_many_requests(request: HttpRequest, retry_after: int) -> HttpResponse:
    from .views import error_response  # views import this module for its decorators

    retry_after = max(int(retry_after), 1)
    if retry_after < 90:
        wait = f"{retry_after} seconds"
    else:
        minutes = -(-retry_after // 60)
        wait = f"{minutes} minutes"
    message = f"Too many requests from your address. Please wait {wait} and try again."
    response = error_response(request, 429, message, retry_after=retry_after)
    response["Retry-After"] = str(retry_after)
    return response


def rate_limited(limit: str, methods: tuple[str, ...] = ("POST",)) -> Callable:
    """Count each request of these methods against the client's `limit`; over it, 429.

    Put it under the method decorators, so a wrong method is refused without counting.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method in methods:
                usage = _usage(request, limit, increment=True)
                if usage is not None and usage["should_limit"]:
                    return too_many_requests(request, usage["time_left"])
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def pin_guessing_limited(view: Callable) -> Callable:
    """Refuse a client's POSTs once its wrong PINs (on any share) reach the limit.

    Only wrong PINs count (see pin_failed); the check itself counts nothing.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            usage = _usage(request, "pin_failures", increment=False)
            if usage is not None and usage["count"] >= usage["limit"]:
                return too_many_requests(request, usage["time_left"])
        return view(request, *args, **kwargs)

    return wrapped


def pin_failed(request: HttpRequest) -> None:
    """Count a wrong PIN against the client."""
    _usage(request, "pin_failures", increment=True)
