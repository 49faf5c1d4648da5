"""Keyed hashes under a server key: PINs, and who sent a report.

Both hash something with very few possible values (a 4-8 digit PIN; an IP address), so no
hash, however slow, keeps them secret from someone who holds the stored digest *and* the
key: 10^8 PINs are a few minutes of any slow hash. What protects them is that the key is
not in the database (it comes from the settings), so a copy of the database alone opens
nothing, and that a live share locks after SEEN_MAX_PIN_FAILURES wrong PINs. An HMAC costs
microseconds, so checking a PIN no longer costs the server a core for half a second
(PBKDF2 did, which let 45 requests freeze the site).

The HMAC is Django's salted_hmac: its key is derived from the secret and a purpose label,
so the PIN and reporter digests are independent of each other and of everything else
derived from SECRET_KEY.
"""

import secrets

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.utils.crypto import constant_time_compare, salted_hmac

PIN_SCHEME = "hmac-sha256"
_PIN_PURPOSE = "seen.shares.pin"
_REPORTER_PURPOSE = "seen.shares.reporter"


def _pin_keys() -> list[str]:
    """The key PINs are hashed under, then the ones that may have hashed older shares."""
    if settings.SEEN_PIN_KEY:
        return [settings.SEEN_PIN_KEY]
    return [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]


def _pin_digest(pin: str, salt: str, key: str) -> str:
    return salted_hmac(_PIN_PURPOSE, f"{salt}${pin}", secret=key, algorithm="sha256").hexdigest()


def pin_hash(pin: str) -> str:
    """What is stored for a share's PIN: scheme, a random per-share salt and the HMAC."""
    salt = secrets.token_urlsafe(12)
    return f"{PIN_SCHEME}${salt}${_pin_digest(pin, salt, _pin_keys()[0])}"


def pin_matches(pin: str, stored: str) -> bool:
    """Whether `pin` is the share's PIN, compared in constant time. Shares created before
    PINs were HMACs keep their PBKDF2 hash until they end, and are checked with it."""
    scheme, _, rest = stored.partition("$")
    if scheme != PIN_SCHEME:
        return check_password(pin, stored)
    salt, _, digest = rest.partition("$")
    return any(constant_time_compare(_pin_digest(pin, salt, key), digest) for key in _pin_keys())


def reporter_hash(*, share_id: int, address: str) -> str:
    """Who reported a share, as a keyed hash that is only comparable within that share: two
    reports from one address count once, and no report says who sent it or links the same
    person's reports across shares."""
    value = f"{share_id}${address}"
    return salted_hmac(_REPORTER_PURPOSE, value, algorithm="sha256").hexdigest()
