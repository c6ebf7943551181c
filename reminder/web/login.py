"""Logging in and out, and setting a password from a one-time link.

Failed attempts are counted in the database per account and per client address, so
every web process sharing it enforces the same limit; an unknown e-mail gets the same
answer, after the same work, as a wrong password.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reminder.store import users
from reminder.web import accounts
from reminder.web.guards import client_address
from reminder.web.rendering import render
from reminder.web.sessions import start_session, text_field
from reminder.web.state import state_of

#: Failed logins counted over this long ...
ATTEMPT_WINDOW = timedelta(minutes=15)
#: ... at most this many for one account ...
MAX_FAILURES_PER_ACCOUNT = 5
#: ... and this many from one address (an office behind one NAT shares it).
MAX_FAILURES_PER_ADDRESS = 20


def _next_path(text: str) -> str:
    # Only a path on this site: never an open redirect to another host ("//host" and
    # "/\\host" are read by browsers as another host).
    same_site = text.startswith("/") and not text.startswith(("//", "/\\"))
    return text if same_site and not any(c.isspace() for c in text) else "/"


async def login_page(request: Request) -> Response:
    """GET /login: the login form."""
    if state_of(request).config.web.auth == "proxy":
        return render(request, "error.html", {"error": "proxy"}, status_code=403)
    context = {"email": "", "next": _next_path(request.query_params.get("next", "/"))}
    return render(request, "login.html", {**context, "problem": None})


async def login(request: Request, form: FormData) -> Response:
    """POST /login: check the password; 429 once the attempts run out."""
    state = state_of(request)
    if state.config.web.auth == "proxy":
        return render(request, "error.html", {"error": "proxy"}, status_code=403)
    email, password = text_field(form, "email"), form.get("password")
    next_path = _next_path(text_field(form, "next"))
    address, now = client_address(request, state.trusted), state.clock()
    context = {"email": email, "next": next_path}
    # The attempt is recorded, as failed, and committed before the password is checked:
    # requests sent together each count the others, so a burst cannot slip past the
    # limit while argon2 works. This attempt is among those counted, hence ">".
    with state.database.session() as session:
        attempt = users.record_login_attempt(
            session, email=email, address=address, succeeded=False, now=now
        )
        since = now - ATTEMPT_WINDOW
        limited = (
            users.failed_logins(session, since=since, email=email) > MAX_FAILURES_PER_ACCOUNT
            or users.failed_logins(session, since=since, address=address) > MAX_FAILURES_PER_ADDRESS
        )
        user = None if limited else users.user_by_email(session, email)
        users.prune_login_attempts(session, before=now - ATTEMPT_WINDOW * 4)
    if limited:
        return render(request, "login.html", {**context, "problem": "limit"}, status_code=429)
    usable = user is not None and not user.disabled
    password_hash = user.password_hash if user is not None and usable else None
    good = isinstance(password, str) and await run_in_threadpool(
        accounts.verify_password, password_hash, password
    )
    if good:
        with state.database.session() as session:
            users.mark_login_succeeded(session, attempt)
    if not good or user is None:
        return render(request, "login.html", {**context, "problem": "wrong"}, status_code=401)
    start_session(request, user)
    return RedirectResponse(next_path, status_code=303)


async def logout(request: Request, form: FormData) -> Response:
    """POST /logout: end this session and every other cookie of the user."""
    state = state_of(request)
    user_id = request.session.get("uid")
    if isinstance(user_id, int):
        with state.database.session() as session:
            users.end_sessions(session, user_id)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def set_password_page(request: Request) -> Response:
    """GET /set-password/{token}: the form, if the link is still good."""
    state = state_of(request)
    digest = accounts.token_digest(request.path_params["token"])
    with state.database.session(read_only=True) as session:
        user = users.user_by_set_password_token(session, digest, now=state.clock())
    if user is None:
        return render(request, "error.html", {"error": "link"}, status_code=404)
    return render(request, "set_password.html", {"account": user, "problem": None})


async def set_password(request: Request, form: FormData) -> Response:
    """POST /set-password/{token}: store the new password's hash; spend the link."""
    state = state_of(request)
    digest = accounts.token_digest(request.path_params["token"])
    with state.database.session(read_only=True) as session:
        user = users.user_by_set_password_token(session, digest, now=state.clock())
    if user is None:
        return render(request, "error.html", {"error": "link"}, status_code=404)
    password, repeated = form.get("password"), form.get("repeated")
    if not isinstance(password, str) or not isinstance(repeated, str):
        password = repeated = ""
    problem = accounts.password_problem(password, repeated)
    if problem is not None:
        context = {"account": user, "problem": problem}
        return render(request, "set_password.html", context, status_code=400)
    password_hash = await run_in_threadpool(accounts.hash_password, password)
    with state.database.session() as session:
        spent = users.set_password(session, user.id, password_hash, used_digest=digest)
    if not spent:  # another tab (or another person) used the link first
        return render(request, "error.html", {"error": "link"}, status_code=404)
    return RedirectResponse("/login?password=set", status_code=303)
