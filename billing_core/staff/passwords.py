"""Password hashes (argon2id) and a short memory of passwords just verified.

Checking a hash costs about 100 ms of CPU by design. Callers run it off the event loop and
never while a database transaction is open (it would hold the transaction, on SQLite the one
write lock, for that long)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import OrderedDict
from datetime import datetime, timedelta
from functools import cache

from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()  # argon2id


@cache
def _unknown_user_hash() -> str:
    """Checked against when the user is unknown, so that an unknown name takes as long as a
    known one with a wrong password (the answer does not tell which names exist). Made on
    first use: every process importing this module would otherwise pay a hash at start."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash`; None (no such user) takes as long and is
    False."""
    if stored_hash is None:
        _hasher.verify(password, _unknown_user_hash())
        return False
    return bool(_hasher.verify(password, stored_hash))


class RecentVerifications:
    """Passwords verified in the last `ttl`, so that a script sending HTTP Basic credentials
    with each request pays the hash once a few minutes, not 100 ms a request.

    It keeps no password: only an HMAC, under a key made for this process, of the username,
    the password and the stored hash. A changed password (a new stored hash) therefore
    misses, and the caller still reads the user (active or not) on every request. At most
    `capacity` entries, the oldest dropped first. Not thread-safe: one event loop uses it."""

    def __init__(self, *, ttl: timedelta = timedelta(minutes=2), capacity: int = 1024) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._key = secrets.token_bytes(32)
        self._until: OrderedDict[bytes, datetime] = OrderedDict()

    def _digest(self, username: str, password: str, stored_hash: str) -> bytes:
        # A JSON list: no choice of parts can make two different triples the same message.
        message = json.dumps([username, password, stored_hash]).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def seen(self, username: str, password: str, stored_hash: str, now: datetime) -> bool:
        digest = self._digest(username, password, stored_hash)
        until = self._until.get(digest)
        if until is None:
            return False
        if until <= now:
            del self._until[digest]
            return False
        return True

    def remember(self, username: str, password: str, stored_hash: str, now: datetime) -> None:
        digest = self._digest(username, password, stored_hash)
        self._until[digest] = now + self.ttl
        self._until.move_to_end(digest)
        while len(self._until) > self.capacity:
            self._until.popitem(last=False)

    def __len__(self) -> int:
        return len(self._until)
