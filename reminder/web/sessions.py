"""Who is asking: the signed session cookie (password login) or the proxy's header,
the CSRF token every form carries, and the idle limit.

A session is a cookie signed with the secret key (Starlette's SessionMiddleware), so
no process keeps any state. It holds the user's id, their session generation (bumped
in the database at logout, new password or disable: every older cookie of the user
stops working), the last time it was used and the CSRF token.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from reminder.store import users
from reminder.store.users import UserView
from reminder.web.guards import peer_is_trusted
from reminder.web.rendering import render
from reminder.web.state import state_of

CSRF_FIELD = "csrf_token"


def start_session(request: Request, user: UserView) -> None:
    """Begin a fresh session for `user`: nothing of the one before survives (a new
    CSRF token, so a token planted before the login is worthless)."""
    request.session.clear()
    request.session.update(
        uid=user.id,
        gen=user.session_generation,
        seen=int(state_of(request).clock().timestamp()),
        csrf=secrets.token_urlsafe(32),
    )


def current_user(request: Request) -> UserView | None:
    """Return the logged-in user, or None; ends a session idle for too long."""
    state = state_of(request)
    web = state.config.web
    if web.auth == "proxy":
        name = request.headers.get(web.user_header, "").strip()
        if not name or not peer_is_trusted(request, state.trusted):
            return None
        with state.database.session(read_only=True) as session:
            user = users.user_by_email(session, name)
        return None if user is None or user.disabled else user
    user_id, generation, seen = (request.session.get(key) for key in ("uid", "gen", "seen"))
    if not isinstance(user_id, int) or not isinstance(seen, int):
        return None
    now = int(state.clock().timestamp())
    if now - seen > web.session_idle_minutes * 60:
        request.session.clear()
        return None
    with state.database.session(read_only=True) as session:
        user = users.user_by_id(session, user_id)
    if user is None or user.disabled or user.session_generation != generation:
        request.session.clear()
        return None
    request.session["seen"] = now
    return user


FormHandler = Callable[[Request, FormData], Awaitable[Response]]


def form_endpoint(handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a POST handler: read the form, refuse it with 403 unless it carries the
    session's CSRF token, then call `handler(request, form)`.

    Every POST route is built with this, so no handler can forget the check.
    """

    async def endpoint(request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=50)
        expected = request.session.get("csrf")
        given = form.get(CSRF_FIELD)
        if not (
            isinstance(expected, str)
            and isinstance(given, str)
            and secrets.compare_digest(expected.encode(), given.encode())
        ):
            return render(request, "error.html", {"error": "form"}, status_code=403)
        return await handler(request, form)

    endpoint.__name__ = handler.__name__
    return endpoint


_SMALL_NUMBER = re.compile("[0-9]{1,9}")


def small_number(text: str) -> int | None:
    """Return `text` as a whole number when it is 1 to 9 ASCII digits, else None.

    For page numbers, ids and counts from a request: str.isdigit() accepts "²", which
    int() refuses, and twenty digits overflow the database's integers.
    """
    return int(text) if _SMALL_NUMBER.fullmatch(text) else None


def text_field(form: FormData, name: str) -> str:
    """Return a text field of `form`, trimmed; "" when missing or a file."""
    value: Any = form.get(name)
    return value.strip() if isinstance(value, str) else ""
