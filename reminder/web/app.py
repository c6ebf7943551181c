"""The web application: routes, the login gate, the middleware around every request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from reminder.config.schema import Config
from reminder.store.database import Database
from reminder.web import agreements, exports, imports, login, office
from reminder.web.guards import BodyLimit, SecurityHeaders
from reminder.web.rendering import render
from reminder.web.sessions import current_user, form_endpoint
from reminder.web.state import STATIC_DIR, Services, WebState

#: The session cookie's name.
SESSION_COOKIE = "reminder_session"

Handler = Callable[..., Awaitable[Response]]


def logged_in(handler: Handler, *, admin: bool = False) -> Handler:
    """Wrap a handler so that it runs for a logged-in user (for admins only when
    `admin`), who is then in request.scope["reminder.user"]."""

    async def endpoint(request: Request, *args: Any) -> Response:
        user = current_user(request)
        if user is None:
            if request.app.state.web.config.web.auth == "proxy":
                return render(request, "error.html", {"error": "proxy"}, status_code=403)
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
            return RedirectResponse(f"/login?next={target}", status_code=303)
        request.scope["reminder.user"] = user
        if admin and not user.is_admin:
            return render(request, "error.html", {"error": "forbidden"}, status_code=403)
        return await handler(request, *args)

    endpoint.__name__ = handler.__name__
    return endpoint


def routes() -> list[Route | Mount]:
    """Return the app's routes. Every POST goes through form_endpoint (CSRF)."""
    return [
        Route("/", logged_in(agreements.agreements_page)),
        Route("/mine", logged_in(agreements.my_agreements_page)),
        Route("/agreements/{agreement_id}", logged_in(agreements.agreement_page_view)),
        Route(
            "/agreements/{agreement_id}/{action}",
            form_endpoint(logged_in(agreements.agreement_action)),
            methods=["POST"],
        ),
        Route("/import", logged_in(imports.import_page, admin=True)),
        Route("/import", form_endpoint(logged_in(imports.upload, admin=True)), methods=["POST"]),
        Route(
            "/import/confirm",
            form_endpoint(logged_in(imports.confirm, admin=True)),
            methods=["POST"],
        ),
        Route(
            "/import/cancel", form_endpoint(logged_in(imports.cancel, admin=True)), methods=["POST"]
        ),
        Route("/export.csv", logged_in(exports.export_csv)),
        Route("/export.xlsx", logged_in(exports.export_xlsx)),
        Route("/mail", logged_in(office.mail_page)),
        Route("/mail/{job}/{index}", logged_in(office.mail_preview)),
        Route(
            "/mail/retry", form_endpoint(logged_in(office.retry_now, admin=True)), methods=["POST"]
        ),
        Route("/status", logged_in(office.status_page)),
        Route("/calendar", logged_in(office.calendar_page)),
        Route("/calendar/reset", form_endpoint(logged_in(office.calendar_reset)), methods=["POST"]),
        Route("/calendar/{token}.ics", office.calendar_feed),
        Route("/login", login.login_page),
        Route("/login", form_endpoint(login.login), methods=["POST"]),
        Route("/logout", form_endpoint(login.logout), methods=["POST"]),
        Route("/set-password/{token}", login.set_password_page),
        Route("/set-password/{token}", form_endpoint(login.set_password), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def build_app(
    config: Config,
    database: Database,
    services: Services,
    *,
    secret_key: str,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """Return the web application for `config` on `database`, signing sessions with
    `secret_key`; `clock` replaces the wall clock (tests)."""
    web = config.web
    state = WebState(config, database, services)
    if clock is not None:
        state.clock = clock
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(BodyLimit, limit=web.max_upload_megabytes * 1024 * 1024),
        Middleware(
            SessionMiddleware,
            secret_key=secret_key,
            session_cookie=SESSION_COOKIE,
            # The signature's age: a cookie not re-signed (not used) for this long is
            # refused; the session itself also checks its own last use (sessions.py).
            max_age=web.session_idle_minutes * 60,
            same_site="lax",
            https_only=web.secure,
        ),
    ]
    app = Starlette(routes=routes(), middleware=middleware)
    app.state.web = state
    return app
