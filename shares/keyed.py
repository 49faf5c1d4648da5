"""Keyed hashes under a server key: PINs, and who sent a report; and the moderators'
wrapped copy of a reported photo's key.

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

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.utils.crypto import constant_time_compare, salted_hmac
from nacl import bindings as sodium
from nacl.exceptions import CryptoError

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


# --- the moderators' copy of a reported photo's key ---------------------------------------
#
# A report is made from the link, so at that moment the server can derive the photo's key;
# it keeps a copy wrapped (XChaCha20-Poly1305 from libsodium, via PyNaCl) under the
# moderation key, bound to the share's number as associated data so a wrapped key moved to
# another share's report does not open. The moderation key is SEEN_MODERATION_KEY, or,
# when that is empty, derived from SECRET_KEY with a purpose label of its own.

_MODERATION_PURPOSE = b"seen.shares.moderation-wrap v1"
_NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES


class UnwrapFailed(Exception):
    """A wrapped key that the current moderation key does not open (the key changed, or
    the value was altered)."""


def _moderation_key() -> bytes:
    secret = settings.SEEN_MODERATION_KEY or settings.SECRET_KEY
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=_MODERATION_PURPOSE)
    return hkdf.derive(secret.encode())


def _share_label(share_id: int) -> bytes:
    return b"share:%d" % share_id


def moderation_wrap(photo_secret: bytes, *, share_id: int) -> bytes:
    """A share's photo key, sealed for the moderators (nonce | ciphertext and tag)."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        photo_secret, _share_label(share_id), nonce, _moderation_key()
    )
    return nonce + sealed


def moderation_unwrap(wrapped: bytes, *, share_id: int) -> bytes:
    """The photo key inside moderation_wrap's value. Raises UnwrapFailed."""
    wrapped = bytes(wrapped)
    nonce, sealed = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed, _share_label(share_id), nonce, _moderation_key()
        )
    except (CryptoError, ValueError):
        raise UnwrapFailed from None


# --- a view's copy of the photos' key ------------------------------------------------------
#
# An album's photos are fetched after the view was spent, one request each, and the last
# view has already erased the share's salt by then. So the view keeps the photos' key for
# its fetch window, wrapped (the same AEAD as above) under a key derived from the view's own
# secret, which only the viewer holds (in the one-time addresses; the row keeps its
# SHA-256). The wrapped key is erased when the window closes.

_VIEW_PURPOSE = b"seen.shares.view-wrap v1"


def _view_key(view_secret: str) -> bytes:
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=_VIEW_PURPOSE)
    return hkdf.derive(view_secret.encode())


# The wrapping key is the view's own (a random 192-bit secret per view), so the value
# opens for that view alone; the label only names what is wrapped.
_VIEW_LABEL = b"seen view fetch key"


def view_wrap(photo_secret: bytes, *, view_secret: str) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        photo_secret, _VIEW_LABEL, nonce, _view_key(view_secret)
    )
    return nonce + sealed


def view_unwrap(wrapped: bytes, *, view_secret: str) -> bytes:
    """The photos' key inside view_wrap's value. Raises UnwrapFailed."""
    wrapped = bytes(wrapped)
    nonce, sealed = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed, _VIEW_LABEL, nonce, _view_key(view_secret)
        )
    except (CryptoError, ValueError):
        raise UnwrapFailed from None
