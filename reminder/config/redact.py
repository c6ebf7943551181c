"""Passwords inside database URLs: found in every form the drivers accept, and masked.

A database URL can carry a password in its userinfo (`postgresql://user:pw@host/db`),
also unencoded (`user:Top/Secret9@host`, which a URL parser splits at the `/`), and in
its query (`?user=postgres&password=pw`, or `passwd=` for MySQL drivers). Every
message, log line and printed config shows a URL only through `redact_url`. This works
on the text, without SQLAlchemy, so that the config can judge a URL before any
database library is imported.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote

#: What a masked password reads as.
MASK = "********"

#: Query arguments that hold a password, for the drivers we support (psycopg reads
#: libpq's "password"; PyMySQL and mysqlclient read "passwd" and "password").
_PASSWORD_ARGUMENTS = frozenset({"password", "passwd", "pass", "pwd"})
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>.*)$", re.S)


def _split(url: str) -> tuple[str, str, str, str] | None:
    """Return (scheme://, userinfo, host-and-path, ?query) of `url`, or None if it has
    no scheme. The userinfo runs to the last "@" before the query, so a password
    holding "/" or "@" stays in it."""
    found = _SCHEME.match(url)
    if found is None:
        return None
    rest = found.group("rest")
    body, mark, query = rest.partition("?")
    userinfo, at, location = body.rpartition("@")
    if not at:
        return found.group("scheme"), "", body, mark + query
    return found.group("scheme"), userinfo + "@", location, mark + query


def _password_arguments(query: str) -> list[tuple[str, str, bool]]:
    """Return the query's (key, value, holds a password) triples, in order."""
    return [
        (key, value, key.lower() in _PASSWORD_ARGUMENTS)
        for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=True)
    ]


def url_has_password(url: str) -> bool:
    """Return whether `url` carries a password, in its userinfo or its query."""
    parts = _split(url)
    if parts is None:
        return False
    _, userinfo, _, query = parts
    return ":" in userinfo.rstrip("@") or any(
        value for _, value, secret in _password_arguments(query) if secret
    )


def redact_url(url: str) -> str:
    """Return `url` with every password in it replaced by MASK; the rest as written."""
    parts = _split(url)
    if parts is None:
        return url
    scheme, userinfo, location, query = parts
    if ":" in userinfo.rstrip("@"):
        user = userinfo.rstrip("@").partition(":")[0]
        userinfo = f"{user}:{MASK}@"
    if query:
        query = "?" + "&".join(
            f"{quote(key, safe='')}={MASK if secret else quote(value, safe='/:@,')}"
            for key, value, secret in _password_arguments(query)
        )
    return f"{scheme}{userinfo}{location}{query}"
