"""Pure renewal-window rules: an agreement's status, and which reminder is due today.

Nothing here reads the clock or the database: `today` and the ledger come in as
arguments, so every rule is testable for any day.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from reminder.domain.dates import days_left
from reminder.domain.records import AgreementView, Lifecycle


class Status(enum.StrEnum):
    """Where an agreement stands on a given day."""

    ACTIVE = "active"  # in force beyond the largest renewal window
    EXPIRING = "expiring"  # 0 <= days left <= the largest window
    EXPIRED = "expired"  # days left < 0
    SUPERSEDED = "superseded"
    RETIRED = "retired"


def status_of(agreement: AgreementView, today: date, windows: tuple[int, ...]) -> Status:
    """Return the agreement's status on `today`, given the renewal windows (days)."""
    if agreement.lifecycle is Lifecycle.SUPERSEDED:
        return Status.SUPERSEDED
    if agreement.lifecycle is Lifecycle.RETIRED:
        return Status.RETIRED
    left = days_left(agreement.effective_until, today)
    if left < 0:
        return Status.EXPIRED
    if left <= max(windows):
        return Status.EXPIRING
    return Status.ACTIVE


#: The ledger's window number for the expiry notice (sent once an agreement has lapsed).
NOTICE = 0


@dataclass(frozen=True, slots=True)
class WindowRules:
    """The [reminders] settings the window rule needs."""

    windows: tuple[int, ...]  # days before effective-until, any order
    notify_expired: bool
    expired_lookback_days: int

    @property
    def final_window(self) -> int:
        """Return the smallest (most urgent) window."""
        return min(self.windows)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the ledger should get for one agreement and recipient today.

    `due` is the window to send now (NOTICE for the expiry notice), or None.
    `skipped` are larger windows that were jumped over (downtime, a late import) and
    are to be recorded as skipped, never sent.
    """

    due: int | None
    skipped: tuple[int, ...] = ()


NOTHING = Decision(None)


def decide(
    effective_until: date,
    today: date,
    rules: WindowRules,
    recorded: Collection[int],
    *,
    snoozed_until: date | None = None,
) -> Decision:
    """Return which reminder, if any, is due today for one agreement and recipient.

    `recorded` holds the windows the ledger already has for this agreement, its
    current effective-until date and this recipient (sent or skipped). The tightest
    window reached is due unless recorded; larger unrecorded windows are skipped, so
    an agreement gets at most one reminder per run and each window at most once.
    Once lapsed, only the notice can be due, and only within the lookback. While
    snoozed (today < snoozed_until) only the final window and the notice go out.
    """
    left = days_left(effective_until, today)
    if left < 0:
        if not rules.notify_expired or -left > rules.expired_lookback_days:
            return NOTHING  # lapsed: the weekly digest lists it, no reminder one by one
        tightest = NOTICE
        reached: tuple[int, ...] = tuple(rules.windows)
    else:
        reached = tuple(w for w in rules.windows if left <= w)
        if not reached:
            return NOTHING
        tightest = min(reached)
    if tightest in recorded:
        return NOTHING
    snoozed = snoozed_until is not None and today < snoozed_until
    if snoozed and tightest not in (NOTICE, rules.final_window):
        return NOTHING
    skipped = tuple(
        sorted((w for w in reached if w != tightest and w not in recorded), reverse=True)
    )
    return Decision(tightest, skipped)


def window_horizon(rules: WindowRules) -> tuple[int, int]:
    """Return (days before, days after) today that an agreement's end must fall in to be
    looked at by a reminder run: within the largest window ahead, or within the notice
    lookback behind."""
    behind = rules.expired_lookback_days if rules.notify_expired else 0
    return max(rules.windows), behind
