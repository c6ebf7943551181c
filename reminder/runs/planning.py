"""Deciding a reminder run: which (agreement, recipient) reminders are due on a day.

`plan_reminders` reads the candidates and their ledger entries in one read-only
session, applies the window rules and routes each agreement to its recipients,
returning a `ReminderPlan` of digests, skipped windows and unrouted items;
`iter_due_rows` turns a plan into the rows `reminder due --json` prints, and
`ledger_address` is the form of an address the ledger keys on. Nothing here writes
to the store, renders or sends: recording and delivery belong to reminder.runs.reminder_run and
reminder.runs.delivery, which import this module and are never imported by it.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

from reminder import store
from reminder.domain.dates import days_left
from reminder.domain.records import AgreementView
from reminder.domain.reminder_digest import (
    DueItem,
    Recipient,
    ReminderDigest,
    digests_by_recipient,
    urgency,
)
from reminder.domain.windows import Decision, decide, window_horizon
from reminder.runs.context import Context
from reminder.store import LedgerKey


@dataclass
class ReminderPlan:
    """What a reminder run for `as_of` decided, before anything is recorded."""

    as_of: date
    digests: list[ReminderDigest] = field(default_factory=list)
    skipped: list[LedgerKey] = field(default_factory=list)
    unrouted: list[DueItem] = field(default_factory=list)

    @property
    def due_count(self) -> int:
        """Return how many (agreement, recipient) reminders are due."""
        return sum(len(d.items) for d in self.digests)


def plan_reminders(context: Context, as_of: date) -> ReminderPlan:
    """Decide which reminders are due on `as_of`, reading the store and writing nothing.

    Only active agreements whose effective-until lies within the largest window ahead
    or the notice lookback behind are read, with the ledger's entries for them in the
    same query, so the cost follows what can be due.
    Recipients are told apart by address, as the ledger keys them: a coordinator
    listed under two rules (the address in another case, the name spelled otherwise)
    gets one digest, under the first entry's name.
    """
    rules = context.rules
    ahead, behind = window_horizon(rules)
    plan = ReminderPlan(as_of)
    # Keyed by ledger address (a string hashes faster than a Recipient).
    due: dict[str, list[DueItem]] = defaultdict(list)
    route = _RouteCache(context)
    # The rule depends only on these arguments, and a run sees many agreements ending
    # on the same day with nothing recorded yet: decide each combination once.
    decisions: dict[tuple[date, frozenset[int], date | None], tuple[Decision, int]] = {}

    def decided(key: tuple[date, frozenset[int], date | None]) -> tuple[Decision, int]:
        until, recorded, snoozed = key
        decision = decide(until, as_of, rules, recorded, snoozed_until=snoozed)
        found = decisions[key] = (decision, days_left(until, as_of))
        return found

    # The loop below runs once per agreement within the horizon (tens of thousands on
    # a first run over a large portfolio): the caches are read inline, and only a miss
    # calls out.
    routes = route.routes
    with _collector_paused(), context.database.session(read_only=True) as session:
        candidates = store.iter_reminder_candidates(
            session,
            until_from=as_of - timedelta(days=behind),
            until_to=as_of + timedelta(days=ahead),
        )
        for agreement, recorded in candidates:
            until, snoozed = agreement.effective_until, agreement.snoozed_until
            recipients = routes.get(
                (agreement.coordinator_email, agreement.country_code, agreement.programme)
            )
            if recipients is None:
                recipients = route(agreement)
            if not recipients:
                key = (until, _NONE_RECORDED, snoozed)
                decision, left = decisions.get(key) or decided(key)
                if decision.due is not None:
                    plan.unrouted.append(DueItem(agreement, decision.due, left))
                continue
            for address in recipients:
                key = (until, recorded.get(address, _NONE_RECORDED), snoozed)
                decision, left = decisions.get(key) or decided(key)
                if decision.due is None:
                    continue
                due[address].append(DueItem(agreement, decision.due, left))
                if decision.skipped:
                    plan.skipped += [
                        LedgerKey(agreement.id, until, window, address)
                        for window in decision.skipped
                    ]
    plan.digests = digests_by_recipient(
        {route.recipient_of[address]: items for address, items in due.items()}, as_of
    )
    return plan


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block; restore it afterwards.

    A run over a large portfolio builds tens of thousands of views and items that all
    live until the plan is done, and every collection of the oldest generation walks
    all of them again: a quarter of plan_reminders at 1,000,000 agreements. What the
    plan builds holds no reference cycles, so nothing waits for the collector here.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_NONE_RECORDED: frozenset[int] = frozenset()


class _RouteCache:
    """Ledger addresses for each routing-relevant part of an agreement.

    Routing reads only the coordinator address, the country code and the programme;
    a run routes tens of thousands of agreements over a few hundred such combinations.
    `routes` maps (coordinator email, country code, programme) to the addresses;
    `recipient_of` maps each address met to its recipient (the first name given).
    """

    def __init__(self, context: Context) -> None:
        self._router = context.router
        self.recipient_of: dict[str, Recipient] = {}
        for coordinator in context.config.coordinators:
            self.recipient_of.setdefault(
                ledger_address(coordinator.email), self._router.coordinator(coordinator)
            )
        self.routes: dict[tuple[str | None, str | None, str], tuple[str, ...]] = {}

    def __call__(self, agreement: AgreementView) -> tuple[str, ...]:
        """Route `agreement` and remember it; return its ledger addresses (empty: unrouted)."""
        addresses: dict[str, None] = {}
        for recipient in self._router.recipients(agreement):
            address = ledger_address(recipient.email)
            self.recipient_of.setdefault(address, recipient)
            addresses[address] = None
        key = (agreement.coordinator_email, agreement.country_code, agreement.programme)
        found = self.routes[key] = tuple(addresses)
        return found


def ledger_address(email: str) -> str:
    """Return the form of an address the ledger keys on (case does not make a new person)."""
    return email.strip().lower()


def iter_due_rows(plan: ReminderPlan) -> Iterator[dict[str, object]]:
    """Yield one JSON object per due agreement for `reminder due --json`, most urgent first.

    An agreement due for several recipients is one object listing them all; an
    unrouted one has an empty recipient list.
    """
    merged: dict[tuple[int, int], tuple[DueItem, list[str]]] = {}
    for digest in plan.digests:
        for item in digest.items:
            key = (item.agreement.id, item.window)
            merged.setdefault(key, (item, []))[1].append(digest.recipient.email)
    for item in plan.unrouted:
        merged.setdefault((item.agreement.id, item.window), (item, []))
    for item, recipients in sorted(merged.values(), key=lambda pair: urgency(pair[0])):
        a: AgreementView = item.agreement
        yield {
            "agreement_id": a.id,
            "partner": a.partner,
            "country": a.country,
            "country_code": a.country_code,
            "programme": a.programme,
            "effective_until": a.effective_until.isoformat(),
            "approximate": a.approximate,
            "days_left": item.days_left,
            "window": item.window,
            "recipients": recipients,
        }
