"""Rate limits per client address, counted where every process sees the same counts.

The limits are in settings.SEEN_RATE_LIMITS (one env variable each), as a count per fixed
window ("20/h": at most 20 in each clock hour). A limited request answers 429 with
Retry-After: a page for browsers, JSON for /api/ and scripts.

The counters are in Redis or a database table (shares/counters.py), shared by every
process, one round trip per count. If they cannot be reached
the request goes through (and the failure is logged): a share's own 5-wrong-PIN limit
still holds, and an outage of the counters should not become an outage of the service.
"""

import functools
import ipaddress
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from . import counters
from .responses import too_many_requests

log = logging.getLogger(__name__)

CACHE_ERRORS = (*counters.ERRORS, DatabaseError)
_UNKNOWN_ADDRESS = "0.0.0.0"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Anyone holds a whole IPv6 /64: rotating addresses within it must not buy more requests.
_IPV6_PREFIX = 64


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from REMOTE_ADDR or one X-Forwarded-For entry (some proxies add a port).

    An IPv4 client on a dual-stack socket arrives as ::ffff:203.0.113.7; it is that IPv4
    address, not a member of the IPv6 network ::/64 that every such client shares.
    """
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(request: HttpRequest) -> str:
    """The address a request came from, as the rate limits count it.

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


def _counted_as(request: HttpRequest) -> str:
    """What a client's requests are counted under: its address, or its IPv6 /64."""
    return _counted_as_address(ipaddress.ip_address(client_ip(request)))


def _counted_as_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, _IPV6_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True)
class Usage:
    key: str
    count: int
    limit: int
    retry_after: int  # seconds until this window ends
    ttl: int  # how long the counter lives

    @property
    def exhausted(self) -> bool:
        return self.count >= self.limit


def _window(request: HttpRequest, limit: str) -> tuple[str, int, int, int] | None:
    """(counter key, limit, window length, seconds left) for this client and limit, or None
    when the limit is off."""
    rate = settings.SEEN_RATE_LIMITS.get(limit)
    if rate is None:
        return None
    count, per = rate.split("/")
    match = re.fullmatch(r"([0-9]*)([smhd])", per)
    period = int(match.group(1) or 1) * _PERIODS[match.group(2)]
    now = int(time.time())
    window = now // period
    key = f"rl:{limit}:{window}:{_counted_as(request)}"
    return key, int(count), period, period - now % period


def _count(request: HttpRequest, limit: str, *, delta: int) -> Usage | None:
    """Add delta (0: only read) to the client's count for this window, in one round trip;
    None when the limit is off or the counters failed."""
    window = _window(request, limit)
    if window is None:
        return None
    key, allowed, period, retry_after = window
    try:
        count = counters.get(key) if delta == 0 else counters.add(key, delta, ttl=period + 60)
    except CACHE_ERRORS as exc:
        log.error(
            "rate limit %r not checked, the counters failed: %s", limit, exc.__class__.__name__
        )
        return None
    return Usage(key=key, count=count, limit=allowed, retry_after=retry_after, ttl=period + 60)


def limits_reset(*, address: str | None = None, limit: str | None = None) -> int:
    """Forget the counts of one client address (every address when None) for one limit
    (every limit when None), so that it may try again at once; how many counters went.

    For someone trying Seen locally who locked themselves out (manage.py
    ratelimits_reset). An IPv6 address resets its whole /64, which is what is counted.
    Raises ValueError for an address or a limit that does not exist.
    """
    if limit is not None and limit not in settings.SEEN_RATE_LIMITS:
        names = ", ".join(settings.SEEN_RATE_LIMITS)
        raise ValueError(f"unknown limit {limit!r}: one of {names}")
    end = ""
    if address is not None:
        parsed = _address(address)
        if parsed is None:
            raise ValueError(f"{address!r} is not an IP address")
        end = f":{_counted_as_address(parsed)}"
    # Keys are rl:<limit>:<window>:<address> (_window).
    return counters.delete_matching(start=f"rl:{limit}:" if limit else "rl:", end=end)


def rate_limited(limit: str, methods: tuple[str, ...] = ("POST",)) -> Callable:
    """Count each request of these methods against the client's `limit`; over it, 429.

    Put it under the method decorators, so a wrong method is refused without counting.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method in methods:
                usage = _count(request, limit, delta=1)
                if usage is not None and usage.count > usage.limit:
                    return too_many_requests(request, usage.retry_after, limit=limit)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def pin_guessing_limited(view: Callable) -> Callable:
    """Refuse a client's POSTs once its wrong PINs (on any share) reach the limit.

    This only reads the count; PinAttempts counts each PIN that is checked.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            usage = _count(request, "pin_failures", delta=0)
            if usage is not None and usage.exhausted:
                return too_many_requests(request, usage.retry_after, limit="pin_failures")
        return view(request, *args, **kwargs)

    return wrapped


class PinGuessing(Exception):
    """The client has no PIN attempts left in this window."""

    def __init__(self, retry_after: int):
        super().__init__(f"no PIN attempts left, retry after {retry_after} s")
        self.retry_after = retry_after


class PinAttempts:
    """A client's PIN attempts across shares (services.PinAttempts).

    Each attempt is counted *before* its PIN is checked, and given back when the PIN was
    right, so only wrong PINs stay counted. Checking first and counting afterwards would
    let 30 wrong PINs sent at once all be checked against a limit of 10.
    """

    def __init__(self, request: HttpRequest):
        self._request = request
        self._reserved: Usage | None = None

    def reserve(self) -> None:
        usage = _count(self._request, "pin_failures", delta=1)
        if usage is None:
            return
        self._reserved = usage
        if usage.count > usage.limit:
            raise PinGuessing(usage.retry_after)

    def release(self) -> None:
        if self._reserved is None:
            return
        reserved, self._reserved = self._reserved, None
        try:
            counters.add(reserved.key, -1, ttl=reserved.ttl)
        except CACHE_ERRORS as exc:
            log.error("a PIN attempt was not given back: %s", exc.__class__.__name__)
