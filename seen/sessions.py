"""Sessions whose rows in the database open nothing (SESSION_ENGINE = "seen.sessions").

Django's database store keeps the cookie's session key in django_session.session_key, so
a copy of the database (a backup, a dump handed to a contractor, a replica) is a list of
logged-in admin sessions: send one as the sessionid cookie and you are that moderator.
This store keeps only a digest of the key. The cookie still carries the key; each
request hashes it to find its row, and a digest sent as a cookie is hashed again and
finds nothing.

Why a hashed database store rather than signed-cookie sessions: a row can be deleted, so
logging out (or an operator's DELETE FROM django_session) ends that one session at once.
A signed cookie that was copied stays valid after its owner logs out, until it expires;
only a password change or a new SECRET_KEY (everyone's sessions) would end it.

Why plain SHA-256 and not a keyed hash: the key is 32 random characters of 36 (165 bits),
so nobody can guess one to match a digest, keyed or not; a key (SECRET_KEY) would add
nothing but logging everyone out whenever it is rotated.
"""

import hashlib

from django.contrib.sessions.backends import db
from django.utils import timezone


def key_digest(session_key: str) -> str:
    """What the row holds for a cookie's key: 160 bits of SHA-256, in hex, which fills
    the column's 40 characters exactly."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:40]


class SessionStore(db.SessionStore):
    """Django's database store, with every lookup and write by the key's digest.

    The methods below are the only ones of db.SessionStore that name a row's key;
    save(), cycle_key() (on login), flush() (on logout) and clear_expired() go through
    them or need no key.
    """

    def _get_session_from_db(self):
        if self.session_key is None:
            return None
        try:
            return self.model.objects.get(
                session_key=key_digest(self.session_key), expire_date__gt=timezone.now()
            )
        except self.model.DoesNotExist:
            # As Django's store does: an unknown key is dropped and a new one made on save.
            self._session_key = None
            return None

    async def _aget_session_from_db(self):
        if self.session_key is None:
            return None
        try:
            return await self.model.objects.aget(
                session_key=key_digest(self.session_key), expire_date__gt=timezone.now()
            )
        except self.model.DoesNotExist:
            self._session_key = None
            return None

    def exists(self, session_key):
        return self.model.objects.filter(session_key=key_digest(session_key)).exists()

    async def aexists(self, session_key):
        return await self.model.objects.filter(session_key=key_digest(session_key)).aexists()

    def create_model_instance(self, data):
        return self.model(
            session_key=key_digest(self._get_or_create_session_key()),
            session_data=self.encode(data),
            expire_date=self.get_expiry_date(),
        )

    async def acreate_model_instance(self, data):
        return self.model(
            session_key=key_digest(await self._aget_or_create_session_key()),
            session_data=self.encode(data),
            expire_date=await self.aget_expiry_date(),
        )

    def delete(self, session_key=None):
        session_key = self.session_key if session_key is None else session_key
        if session_key is not None:
            self.model.objects.filter(session_key=key_digest(session_key)).delete()

    async def adelete(self, session_key=None):
        session_key = self.session_key if session_key is None else session_key
        if session_key is not None:
            await self.model.objects.filter(session_key=key_digest(session_key)).adelete()
