"""Passwords and tokens of web users: argon2id hashes, one-time links, calendar tokens.

`reminder user` and the pages both call these, so a password set from either is hashed
the same way. The hashing parameters are argon2-cffi's defaults (RFC 9106's second
recommended setting), which the library keeps current; `needs_rehash` says when a
stored hash used older ones.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: How long a set-password link works.
SET_PASSWORD_VALIDITY = timedelta(hours=72)
#: The shortest password the pages accept.
MIN_PASSWORD_LENGTH = 10

_HASHER = PasswordHasher()  # argon2id
# Verified when the e-mail names no user, so that an unknown user costs the same time
# as a wrong password and the two cannot be told apart.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Return the argon2id hash of `password` (PHC string format)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return whether `password` matches `password_hash`; False when there is no hash
    (after the same work as a real check)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, repeated: str) -> str | None:
    """Return why `password` cannot be used ("differ", "short"; the page words it),
    or None."""
    if password != repeated:
        return "differ"
    if len(password) < MIN_PASSWORD_LENGTH:
        return "short"
    return None


def new_token() -> str:
    """Return an unguessable token for a URL (256 bits)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Return the SHA-256 of `token` in hex: what the database keeps of a one-time token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def set_password_link(base_url: str, token: str) -> str:
    """Return the one-time link at which a user sets a password."""
    return f"{base_url}/set-password/{token}"


def set_password_expiry(now: datetime) -> datetime:
    """Return when a set-password link made at `now` stops working."""
    return now + SET_PASSWORD_VALIDITY
