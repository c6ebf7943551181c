"""Render a page: the template with what every page shows (the user, the CSRF token),
in the reader's language."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from reminder.mail.i18n import negotiate_language
from reminder.web.state import state_of


def page_language(request: Request) -> str:
    """Return the language to write `request`'s page in: the logged-in user's own
    (`reminder user add --language`), else the best the browser's Accept-Language
    names that has a catalog, else the office's ([mail] language)."""
    user = request.scope.get("reminder.user")
    return negotiate_language(
        request.headers.get("accept-language"),
        preferred=getattr(user, "language", None),
        office=state_of(request).config.mail.language,
    )


def csrf_token(request: Request) -> str:
    """Return the session's CSRF token, making one for a new session."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


class _LazyCsrfToken:
    """The session's CSRF token as a template writes it, made only when a form writes
    it: a page without a form leaves the session alone, so a reader who signs in at
    the proxy gets no session cookie to sign and send with every page."""

    __slots__ = ("_request",)

    def __init__(self, request: Request) -> None:
        self._request = request

    def __str__(self) -> str:
        return csrf_token(self._request)

    def __html__(self) -> str:
        # URL-safe base64 (secrets.token_urlsafe): nothing in it to escape.
        return csrf_token(self._request)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Return `template` rendered as an HTML response in the reader's language (see
    page_language); the response says which in Content-Language."""
    state = state_of(request)
    user = request.scope.get("reminder.user")
    language = page_language(request)
    loaded = state.environment(language).get_template(template)
    page = loaded.render(
        {
            "user": user,
            "csrf_token": _LazyCsrfToken(request),
            "auth": state.config.web.auth,
            "path": request.url.path,
            **(context or {}),
        }
    )
    # Vary: a shared cache must not give one reader's language to another.
    headers = {"Content-Language": language, "Vary": "Accept-Language, Cookie"}
    return HTMLResponse(page, status_code=status_code, headers=headers)
