"""The mail page (previews of the next runs, the outbox, "retry now"), the status page
and the calendar feed: each calls what the matching command calls."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from reminder import store
from reminder.domain.records import Lifecycle
from reminder.mail.calendar import portfolio_calendar
from reminder.mail.i18n import wording
from reminder.runs.delivery import deliver_pending
from reminder.runs.planning import plan_reminders
from reminder.runs.reminder_run import compose_reminder
from reminder.runs.weekly_run import compose_weekly, plan_weekly
from reminder.store import users
from reminder.store.ledger import PlannedMessage
from reminder.store.models import REFUSED_STATES, MessageState
from reminder.store.user_models import Role
from reminder.store.users import UserView
from reminder.web import accounts
from reminder.web.rendering import page_language, render
from reminder.web.sessions import small_number
from reminder.web.state import WebState, state_of

#: A preview is the recipient's own HTML, with its inlined styles: shown as a page of
#: its own under this policy (still no script, nothing from elsewhere, no framing).
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
)


def _previews(state: WebState, job: str) -> list[PlannedMessage]:
    """Return the messages the next `job` run ("reminders" or "digest") would send today."""
    context, now, today = state.services.context(), state.clock(), state.today()
    if job == "digest":
        return [compose_weekly(context, digest, now) for digest in plan_weekly(context, today)]
    plan = plan_reminders(context, today)
    return [compose_reminder(context, digest, now) for digest in plan.digests]


def _mail_context(state: WebState) -> dict[str, Any]:
    with state.database.session(read_only=True) as session:
        entries = store.outbox_entries(session, states=[MessageState.PENDING, *REFUSED_STATES])
    return {
        "previews": {job: _previews(state, job) for job in ("reminders", "digest")},
        "entries": entries,
    }


async def mail_page(request: Request) -> Response:
    """GET /mail: what the next runs would send, and the outbox. Composing every digest
    takes a while: it is done in the thread pool, since `reminder serve` runs its
    schedule in this event loop."""
    context = await run_in_threadpool(_mail_context, state_of(request))
    context["retried"] = request.query_params.get("retried")
    return render(request, "mail.html", context)


async def mail_preview(request: Request) -> Response:
    """GET /mail/{job}/{index}: one message's HTML as its recipient sees it."""
    state = state_of(request)
    job, index = str(request.path_params["job"]), str(request.path_params["index"])
    number = small_number(index)
    if job not in ("reminders", "digest") or number is None:
        return render(request, "error.html", {"error": "missing"}, status_code=404)
    messages = await run_in_threadpool(_previews, state, job)
    if number >= len(messages):
        return render(request, "error.html", {"error": "missing"}, status_code=404)
    parsed = message_from_bytes(messages[number].raw, policy=default)
    body = parsed.get_body(("html",)) if isinstance(parsed, EmailMessage) else None
    html = body.get_content() if isinstance(body, EmailMessage) else ""
    return HTMLResponse(html, headers={"content-security-policy": PREVIEW_POLICY})


async def retry_now(request: Request, form: FormData) -> Response:
    """POST /mail/retry: what `reminder outbox retry` does: requeue, then deliver."""
    state = state_of(request)
    with state.database.session() as session:
        store.requeue(session, now=state.clock())
    report = await deliver_pending(state.services.context(), now=state.clock())
    return RedirectResponse(f"/mail?retried={report.sent}", status_code=303)


async def status_page(request: Request) -> Response:
    """GET /status: `reminder status` and `reminder health` as of the app's clock, their
    times written in the reader's language and the configured time zone."""
    state = state_of(request)
    now = state.clock()
    healthy, line = state.services.health(now)
    report = state.services.status(now)
    words = wording(page_language(request))

    def moment(text: str | None) -> str | None:
        # The report is `status --json`'s: ISO times, in UTC.
        return (
            None if text is None else words.moment(datetime.fromisoformat(text), state.config.zone)
        )

    instances = [
        {**i, "started_at": moment(i["started_at"]), "heartbeat_at": moment(i["heartbeat_at"])}
        for i in report["instances"]
    ]
    jobs = [
        {
            **job,
            "next_run": moment(job["next_run"]),
            "last_run": job["last_run"]
            and {**job["last_run"], "started_at": moment(job["last_run"]["started_at"])},
        }
        for job in report["jobs"]
    ]
    context: dict[str, Any] = {
        "instances": instances,
        "jobs": jobs,
        "messages": report["messages"],
        "retry_minutes": state.config.schedule.retry_minutes,
        "healthy": healthy,
        "health": line,
    }
    return render(request, "status.html", context)


def feed_url(state: WebState, token: str) -> str:
    """Return the private address of the calendar feed that `token` opens."""
    return f"{state.config.web.base_url}/calendar/{token}.ics"


async def calendar_page(request: Request) -> Response:
    """GET /calendar: whether the user has a feed address, and a form to make a new one.
    The address itself is not shown: the database keeps only its token's digest."""
    return render(request, "calendar.html", {"feed": None, "replaced": False})


async def calendar_reset(request: Request, form: FormData) -> Response:
    """POST /calendar/reset: a new token; the old address stops working. The new
    address is shown in this response only (nothing can show it again), which no cache
    may keep."""
    state = state_of(request)
    user: UserView = request.scope["reminder.user"]
    token = accounts.new_token()
    with state.database.session() as session:
        users.reset_calendar_token(session, user.id, accounts.token_digest(token))
    context = {"feed": feed_url(state, token), "replaced": user.has_calendar_feed}
    response = render(request, "calendar.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


async def calendar_feed(request: Request) -> Response:
    """GET /calendar/{token}.ics: the active agreements' end dates, as `export-ics` writes
    them (for a coordinator, `export-ics --coordinator` theirs). No login: the token is
    the key, for calendar programs that cannot log in. Calendar programs poll it, and a
    portfolio's calendar takes seconds: it is written in the thread pool."""
    token = str(request.path_params["token"])
    return await run_in_threadpool(_calendar, state_of(request), token)


def _calendar(state: WebState, token: str) -> Response:
    with state.database.session(read_only=True) as session:
        user = users.user_by_calendar_digest(session, accounts.token_digest(token))
        if user is None:
            return Response("no such calendar\n", status_code=404, media_type="text/plain")
        views = list(store.iter_agreement_views(session, lifecycles={Lifecycle.ACTIVE}))
    if user.role is Role.COORDINATOR:
        views = [
            view
            for view in views
            if any(r.email.casefold() == user.email for r in state.router.recipients(view))
        ]
    content = portfolio_calendar(
        views,
        organizer=state.config.mail.sender,
        windows=state.config.reminders.windows,
        today=state.today(),
        stamp=state.clock(),
    )
    return Response(content, media_type="text/calendar; charset=utf-8")
