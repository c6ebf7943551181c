"""Render a page: the template with what every page shows (the user, the CSRF token)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from reminder.web.state import state_of


def csrf_token(request: Request) -> str:
    """Return the session's CSRF token, making one for a new session."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Return `template` rendered as an HTML response."""
    state = state_of(request)
    user = request.scope.get("reminder.user")
    page = state.environment.get_template(template).render(
        {
            "user": user,
            "csrf_token": csrf_token(request),
            "auth": state.config.web.auth,
            "path": request.url.path,
            **(context or {}),
        }
    )
    return HTMLResponse(page, status_code=status_code)
