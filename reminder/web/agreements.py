"""The agreements list, one agreement, and the actions on it (renew, amend, retire,
reinstate, snooze, clear snooze), with the CLI's rules: the same store functions, the
history naming the web user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reminder import store
from reminder.domain.data_warnings import N_
from reminder.domain.dates import day_out_of_range, days_left
from reminder.domain.records import AgreementView, Lifecycle
from reminder.domain.renewal_rules import MAX_TERM_YEARS, Refusal, RefusedChange, renewal_until
from reminder.domain.windows import Status, status_of
from reminder.errors import InputError
from reminder.store.agreement_pages import PageFilters, RoutedTo, RoutingRule, agreement_page
from reminder.store.user_models import Role
from reminder.store.users import UserView
from reminder.web.action_problems import FieldProblem, field_problem, page_message, refused
from reminder.web.rendering import page_language, render
from reminder.web.sessions import small_number, text_field
from reminder.web.state import WebState, state_of

#: Agreements shown per page.
PAGE_SIZE = 50


def may_act(state: WebState, user: UserView, agreement: AgreementView) -> bool:
    """Return whether `user` may change `agreement`: admins always, coordinators on the
    agreements routed to them, viewers never."""
    if user.role is Role.ADMIN:
        return True
    if user.role is not Role.COORDINATOR:
        return False
    return any(r.email.casefold() == user.email for r in state.router.recipients(agreement))


def parse_day(text: str) -> date | None:
    """Return the YYYY-MM-DD day in `text`, or None when it is not one."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return None if day_out_of_range(day) else day


def page_filters(state: WebState, query: dict[str, str], as_of: date) -> PageFilters:
    """Return the list's filters from the query string (unknown values are ignored)."""
    windows = state.config.reminders.windows
    horizon = as_of + timedelta(days=max(windows))
    lifecycles: frozenset[Lifecycle] | None = None
    until_from = until_to = None
    status = query.get("status", "")
    if status in ("active", "expiring", "expired"):
        lifecycles = frozenset({Lifecycle.ACTIVE})
        if status == "expiring":
            until_from, until_to = as_of, horizon
        elif status == "expired":
            until_to = as_of - timedelta(days=1)
        else:
            until_from = horizon + timedelta(days=1)
    elif status in ("superseded", "retired"):
        lifecycles = frozenset({Lifecycle(status)})
    coordinator = query.get("coordinator", "").strip().casefold()
    routed_to = routed_to_person(state, coordinator) if coordinator else None
    return PageFilters(
        lifecycles=lifecycles,
        until_from=until_from,
        until_to=until_to,
        country_code=query.get("country") or None,
        programme=query.get("programme") or None,
        search=query.get("q", "").strip() or None,
        routed_to=routed_to,
    )


def routed_to_person(state: WebState, email: str) -> RoutedTo:
    """Return what routes agreements to `email` (casefolded), as the reminder run's
    Router does: every [[coordinators]] entry of theirs, and the agreements no entry
    matches when they are [reminders] default_recipient."""
    coordinators = state.config.coordinators
    own = [c for c in coordinators if c.email.casefold() == email]
    default = state.config.reminders.default_recipient
    everyone = tuple(RoutingRule(tuple(c.countries), tuple(c.programmes)) for c in coordinators)
    return RoutedTo(
        email,
        tuple(RoutingRule(tuple(c.countries), tuple(c.programmes)) for c in own),
        everyone if default is not None and default.casefold() == email else None,
    )


def suggested_countries(state: WebState) -> list[str]:
    """Return the country codes the coordinators name, offered as the filter's choices
    (any other code can be typed: the list reads no column of the whole table)."""
    codes = {code for c in state.config.coordinators for code in c.countries if code != "*"}
    return sorted(codes)


def suggested_programmes(state: WebState) -> list[str]:
    """Return the programmes the config names, offered as the filter's choices."""
    names = {name for c in state.config.coordinators for name in c.programmes if name != "*"}
    return sorted(names | {state.config.agreements.default_programme})


def filter_lists(state: WebState) -> Markup:
    """Return the filters' suggestions (the coordinators' countries, the programmes, the
    coordinators) as <datalist>s, rendered once per app: they depend on the config alone,
    and a portfolio with a coordinator per country offers hundreds of them."""
    if state.filter_lists is None:
        # The suggestions are codes, names and addresses: the same in every language.
        template = state.environment(state.config.mail.language).get_template("filter_lists.html")
        # The environment autoescapes: what it renders is markup already, safe to mark so.
        state.filter_lists = Markup(  # noqa: S704
            template.render(
                countries=suggested_countries(state),
                programmes=suggested_programmes(state),
                coordinators=state.config.coordinators,
            )
        )
    return state.filter_lists


def listed(state: WebState, view: AgreementView, as_of: date) -> dict[str, Any]:
    """Return what a row of the list shows of `view`."""
    return {
        "agreement": view,
        "days_left": days_left(view.effective_until, as_of),
        "status": status_of(view, as_of, state.config.reminders.windows),
    }


def list_query(request: Request, user: UserView, *, mine: bool = False) -> dict[str, Any]:
    """Return what the list page shows: its filters, one page of rows (as HTML) and the
    total."""
    state = state_of(request)
    query = dict(request.query_params)
    if mine:
        query["coordinator"] = user.email
    as_of = parse_day(query.get("as_of", "")) or state.today()
    page = max(1, small_number(query.get("page", "")) or 1)
    filters = page_filters(state, query, as_of)
    with state.database.session(read_only=True) as session:
        found = agreement_page(session, filters, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    rows = [listed(state, view, as_of) for view in found.views]
    write_row = state.row_renderer(page_language(request))
    return {
        # Each row's HTML, written once and kept (web.list_rows).
        "rows_html": Markup("").join(
            write_row(row["agreement"], row["status"], row["days_left"]) for row in rows
        ),
        "total": found.total,
        "exact": found.exact,
        "page": page,
        "pages": max(1, -(-found.total // PAGE_SIZE)),
        "query": query,
        "as_of": as_of,
        "statuses": [s.value for s in Status],
        "filter_lists": filter_lists(state),
        "mine": mine,
    }


async def agreements_page(request: Request) -> Response:
    """GET /: the agreements, filtered, one page at a time."""
    user: UserView = request.scope["reminder.user"]
    return render(request, "agreements.html", list_query(request, user))


async def my_agreements_page(request: Request) -> Response:
    """GET /mine: the agreements routed to the logged-in user."""
    user: UserView = request.scope["reminder.user"]
    return render(request, "agreements.html", list_query(request, user, mine=True))


def _agreement_id(request: Request) -> int | None:
    text = str(request.path_params["agreement_id"])
    number = small_number(text)
    return number if number is not None and number >= 1 else None


async def agreement_page_view(
    request: Request, *, problem: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    """GET /agreements/{id}: details, family, reminders, history and the actions."""
    state = state_of(request)
    user: UserView = request.scope["reminder.user"]
    number = _agreement_id(request)
    with state.database.session(read_only=True) as session:
        record = store.agreement_record(session, number) if number is not None else None
    if record is None:
        return render(request, "error.html", {"error": "missing"}, status_code=404)
    as_of = state.today()
    context = {
        "record": record,
        "row": listed(state, record.agreement, as_of),
        "may_act": may_act(state, user, record.agreement),
        "problem": problem or {},
        "form": dict(request.query_params),
        "final_window": min(state.config.reminders.windows),
        "term_years": state.config.agreements.term_years,
    }
    return render(request, "agreement.html", context, status_code=status_code)


Action = Callable[[WebState, int, FormData, str], str]


def _renew(state: WebState, number: int, form: FormData, actor: str) -> str:
    concluded = parse_day(text_field(form, "concluded"))
    until_text, years_text = text_field(form, "until"), text_field(form, "years")
    until = parse_day(until_text) if until_text else None
    if concluded is None:
        raise FieldProblem("concluded", N_("give the day the renewal was signed (YYYY-MM-DD)"))
    if until_text and until is None:
        raise FieldProblem("until", N_("not a date (use YYYY-MM-DD)"))
    years = small_number(years_text) if years_text else None
    if years_text and years is None:
        raise FieldProblem("years", N_("not a whole number of years"))
    if until is not None and years is not None:
        raise refused(Refusal.UNTIL_AND_YEARS)
    if years is not None and not 1 <= years <= MAX_TERM_YEARS:
        raise refused(Refusal.YEARS_OUT_OF_RANGE, most=MAX_TERM_YEARS)
    effective_until, source = renewal_until(
        concluded,
        until=until,
        years=years,
        term_years=state.config.agreements.term_years,
    )
    with state.database.session() as session:
        store.renew_agreement(
            session,
            number,
            concluded=concluded,
            effective_until=effective_until,
            until_source=source,
            now=state.clock(),
            actor=actor,
        )
    return "renewed"


def _amend(state: WebState, number: int, form: FormData, actor: str) -> str:
    until = parse_day(text_field(form, "until"))
    if until is None:
        raise FieldProblem("until", N_("give the new effective-until date (YYYY-MM-DD)"))
    with state.database.session() as session:
        store.amend_agreement(
            session, number, effective_until=until, now=state.clock(), actor=actor
        )
    return "amended"


def _retire(state: WebState, number: int, form: FormData, actor: str) -> str:
    if not text_field(form, "reason").strip():
        raise refused(Refusal.NO_REASON)
    with state.database.session() as session:
        store.retire_agreement(
            session, number, reason=text_field(form, "reason"), now=state.clock(), actor=actor
        )
    return "retired"


def _reinstate(state: WebState, number: int, form: FormData, actor: str) -> str:
    with state.database.session() as session:
        store.reinstate_agreement(session, number, now=state.clock(), actor=actor)
    return "reinstated"


def _snooze(state: WebState, number: int, form: FormData, actor: str) -> str:
    until = None
    if text_field(form, "clear") != "1":
        until = parse_day(text_field(form, "until"))
        if until is None:
            raise FieldProblem("until", N_("give the day reminders resume (YYYY-MM-DD)"))
        if until <= state.today():
            raise refused(Refusal.SNOOZE_NOT_AFTER_TODAY, today=state.today())
    with state.database.session() as session:
        store.snooze_agreement(
            session, number, until=until, today=state.today(), now=state.clock(), actor=actor
        )
    return "snoozed" if until is not None else "unsnoozed"


#: The actions, by the name in their URL, and the form field their errors belong to.
ACTIONS: dict[str, tuple[Action, str]] = {
    "renew": (_renew, "concluded"),
    "amend": (_amend, "until"),
    "retire": (_retire, "reason"),
    "reinstate": (_reinstate, "reinstate"),
    "snooze": (_snooze, "until"),
}


async def agreement_action(request: Request, form: FormData) -> Response:
    """POST /agreements/{id}/{action}: do it, or show the error beside its field."""
    state = state_of(request)
    user: UserView = request.scope["reminder.user"]
    number = _agreement_id(request)
    action = ACTIONS.get(str(request.path_params["action"]))
    with state.database.session(read_only=True) as session:
        view = store.get_agreement_view(session, number) if number is not None else None
    if view is None or action is None or number is None:
        return render(request, "error.html", {"error": "missing"}, status_code=404)
    if not may_act(state, user, view):
        return render(request, "error.html", {"error": "forbidden"}, status_code=403)
    perform, field = action
    try:
        try:
            done = perform(state, number, form, user.name)
        except RefusedChange as error:
            # The store's words are the CLI's: the page says it in its own.
            raise field_problem(error, field, bool(text_field(form, "until"))) from error
        except InputError as error:  # every refusal is a RefusedChange; this is a safety net
            raise FieldProblem(field, N_("this change cannot be made")) from error
    except FieldProblem as error:
        problem = {"action": str(request.path_params["action"]), "field": error.field}
        message = page_message(error, page_language(request))
        return await agreement_page_view(
            request, problem={**problem, "message": message}, status_code=400
        )
    return RedirectResponse(f"/agreements/{number}?done={done}", status_code=303)
