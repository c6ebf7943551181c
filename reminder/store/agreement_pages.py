"""One page of the agreements list, filtered, and how many match: what the web page
reads. Only that page's rows leave the database (LIMIT/OFFSET on the index by
effective-until), and the matches are counted by the database, up to a limit."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from reminder.domain.names import normalize_key
from reminder.domain.records import AgreementView, Lifecycle
from reminder.store.agreements import agreement_filters
from reminder.store.models import Agreement
from reminder.store.views import _COLUMNS, _view


@dataclass(frozen=True)
class RoutingRule:
    """One [[coordinators]] entry's countries and programmes ("*" for all)."""

    countries: tuple[str, ...] = ("*",)
    programmes: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class RoutedTo:
    """The agreements routed to one person, as reminder.domain.reminder_digest.Router
    routes them: those naming `email` as their coordinator; of those naming none, the
    ones any of `rules` (the person's [[coordinators]] entries) matches; and, when
    `unmatched_by` is given (the person is the default recipient), the ones no rule in
    it (every coordinator's entries) matches."""

    email: str
    rules: tuple[RoutingRule, ...] = ()
    unmatched_by: tuple[RoutingRule, ...] | None = None


@dataclass(frozen=True)
class PageFilters:
    """What the list shows: lifecycles and an inclusive end-date range (from the status
    filter), a country code, a programme, a search in partner names, a coordinator.
    Hashable: the statements built from it are kept (_page_statements)."""

    lifecycles: frozenset[Lifecycle] | None = None
    until_from: date | None = None
    until_to: date | None = None
    country_code: str | None = None
    programme: str | None = None
    search: str | None = None
    routed_to: RoutedTo | None = None


def _matches(rule: RoutingRule) -> ColumnElement[bool]:
    # Never NULL (an agreement without a country code matches no country list), so that
    # the default recipient's NOT(...) keeps the agreements no rule matches.
    conditions: list[ColumnElement[bool]] = [true()]
    if "*" not in rule.countries:
        conditions += [
            Agreement.country_code.is_not(None),
            Agreement.country_code.in_([code.upper() for code in rule.countries]),
        ]
    if "*" not in rule.programmes:
        # By the import's key, as the Router matches them (a database's lower() folds
        # only ASCII).
        conditions.append(
            Agreement.programme_key.in_([normalize_key(name) for name in rule.programmes])
        )
    return and_(*conditions)


def _routed(routed: RoutedTo) -> ColumnElement[bool]:
    # The agreement's own coordinator wins; else the configured countries and programmes.
    by_rules = [_matches(rule) for rule in routed.rules]
    if routed.unmatched_by is not None:
        by_rules.append(not_(or_(false(), *(_matches(r) for r in routed.unmatched_by))))
    return or_(
        func.lower(Agreement.coordinator_email) == routed.email.lower(),
        and_(Agreement.coordinator_email.is_(None), or_(false(), *by_rules)),
    )


def _conditions(filters: PageFilters) -> list[ColumnElement[bool]]:
    conditions = agreement_filters(filters.lifecycles, filters.until_from, filters.until_to)
    if filters.country_code:
        conditions.append(Agreement.country_code == filters.country_code.upper())
    if filters.programme:
        conditions.append(Agreement.programme_key == normalize_key(filters.programme))
    if filters.search:
        conditions.append(
            func.lower(Agreement.partner).contains(filters.search.lower(), autoescape=True)
        )
    if filters.routed_to is not None:
        conditions.append(_routed(filters.routed_to))
    return conditions


#: The list counts its matches up to this many past the first row shown: an exact count
#: of a million agreements is a scan of them all, on every view of the list, and even
#: 10,000 index entries were a third of the page's time (bench g). An office's list
#: is rarely longer; past it the page says "more than 1000" and offers the next page.
COUNT_LIMIT = 1_000


@dataclass(frozen=True)
class AgreementPage:
    """One page of the list: its agreements, and how many match: `total` exactly when
    `exact`, else at least that many."""

    views: list[AgreementView]
    total: int
    exact: bool


def agreement_rows(
    session: Session,
    filters: PageFilters,
    *,
    limit: int,
    offset: int = 0,
    after: tuple[date, int] | None = None,
) -> list[AgreementView]:
    """Return up to `limit` agreements by effective-until then id, skipping `offset`, or
    those after `after`, the (effective_until, id) of the last row read before (which
    reads no skipped row: an export goes through the whole table that way)."""
    statement = (
        _rows_statement(filters, limit, offset, after)
        if after is not None
        else _page_statements(filters, limit, offset, _ceiling(limit, offset))[0]
    )
    # Through the session's connection: the rows are plain values, and the ORM's
    # execution path around a Core select costs more than the query at 50 rows.
    return [_view(row) for row in session.connection().execute(statement)]


def _rows_statement(
    filters: PageFilters, limit: int, offset: int, after: tuple[date, int] | None
) -> Select[*tuple[Any, ...]]:
    conditions = _conditions(filters)
    if after is not None:
        until, last_id = after
        conditions.append(
            or_(
                Agreement.effective_until > until,
                and_(Agreement.effective_until == until, Agreement.id > last_id),
            )
        )
    return (
        select(*_COLUMNS)
        .where(*conditions)
        .order_by(Agreement.effective_until, Agreement.id)
        .offset(offset)
        .limit(limit)
    )


def _ceiling(limit: int, offset: int) -> int:
    return offset + max(limit, COUNT_LIMIT)


@functools.lru_cache(maxsize=256)
def _page_statements(
    filters: PageFilters, limit: int, offset: int, ceiling: int
) -> tuple[Select[*tuple[Any, ...]], Select[int]]:
    """Return the statements of one page of the list: its rows, and the count of the
    matches up to `ceiling` + 1 (the one more tells "more than" from "exactly").

    Kept per filters and page: building two selects, and SQLAlchemy adapting its cached
    compilation to each new object, were a quarter of the page's time in the database.
    """
    matching = select(Agreement.id).where(*_conditions(filters)).limit(ceiling + 1).subquery()
    return (
        _rows_statement(filters, limit, offset, None),
        select(func.count()).select_from(matching),
    )


def agreement_page(
    session: Session, filters: PageFilters, *, offset: int, limit: int
) -> AgreementPage:
    """Return the agreements of one page and how many match, counted up to `offset` +
    COUNT_LIMIT (the count stops there: past it, the page says "at least")."""
    views = agreement_rows(session, filters, offset=offset, limit=limit)
    ceiling = _ceiling(limit, offset)
    count = _page_statements(filters, limit, offset, ceiling)[1]
    counted = session.connection().scalar(count) or 0
    return AgreementPage(views, min(counted, ceiling), exact=counted <= ceiling)
