"""The window rule: status on a day, and which reminder is due (pure, no clock)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from factories import agreement_view

from reminder.domain.records import AgreementView, Lifecycle, UntilSource
from reminder.domain.windows import NOTICE, Decision, Status, WindowRules, decide, status_of

RULES = WindowRules(windows=(180, 90, 30, 7), notify_expired=True, expired_lookback_days=30)
END = date(2023, 6, 15)


def view(until: date = END, lifecycle: Lifecycle = Lifecycle.ACTIVE) -> AgreementView:
    return agreement_view(
        programme="Mevlana",
        concluded=date(2018, 6, 15),
        effective_until=until,
        effective_until_source=UntilSource.YEAR,
        lifecycle=lifecycle,
    )


def before(days: int) -> date:
    return END - timedelta(days=days)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (before(181), Status.ACTIVE),
        (before(180), Status.EXPIRING),
        (before(0), Status.EXPIRING),
        (before(-1), Status.EXPIRED),
    ],
)
def test_status_of(today: date, expected: Status) -> None:
    assert status_of(view(), today, RULES.windows) is expected


def test_lifecycle_wins_over_dates() -> None:
    assert (
        status_of(view(lifecycle=Lifecycle.SUPERSEDED), before(3), RULES.windows)
        is Status.SUPERSEDED
    )
    assert status_of(view(lifecycle=Lifecycle.RETIRED), before(-3), RULES.windows) is Status.RETIRED


@pytest.mark.parametrize(
    ("today", "recorded", "expected"),
    [
        (before(181), set(), Decision(None)),
        (before(180), set(), Decision(180)),
        (before(179), {180}, Decision(None)),
        (before(90), {180}, Decision(90)),
        # Jumped from nothing straight into the 30-day window: 180 and 90 are skipped.
        (before(25), set(), Decision(30, (180, 90))),
        # 30 already recorded: nothing until 7.
        (before(8), {180, 90, 30}, Decision(None)),
        (before(7), {180, 90, 30}, Decision(7)),
        (before(0), {180, 90, 30, 7}, Decision(None)),
        # The last day is still in force: no notice yet.
        (before(0), {180, 90, 30}, Decision(7)),
        # Lapsed yesterday: the notice, every unrecorded window skipped.
        (before(-1), {180}, Decision(NOTICE, (90, 30, 7))),
        (before(-30), set(), Decision(NOTICE, (180, 90, 30, 7))),
        (before(-5), {180, 90, 30, 7, NOTICE}, Decision(None)),
        # Lapsed beyond the lookback: never reminded one by one.
        (before(-31), set(), Decision(None)),
    ],
)
def test_decide(today: date, recorded: set[int], expected: Decision) -> None:
    assert decide(END, today, RULES, recorded) == expected


def test_notice_can_be_switched_off() -> None:
    rules = WindowRules((180, 90, 30, 7), notify_expired=False, expired_lookback_days=30)
    assert decide(END, before(-1), rules, set()) == Decision(None)


def test_snooze_holds_back_all_but_final_window_and_notice() -> None:
    until = before(-10)
    assert decide(END, before(90), RULES, {180}, snoozed_until=until) == Decision(None)
    assert decide(END, before(30), RULES, {180}, snoozed_until=until) == Decision(None)
    assert decide(END, before(7), RULES, {180}, snoozed_until=until) == Decision(7, (90, 30))
    assert decide(END, before(-1), RULES, {180, 7}, snoozed_until=until) == Decision(
        NOTICE, (90, 30)
    )
    # Once the snooze has ended, the tightest window reached goes out again.
    assert decide(END, before(20), RULES, {180}, snoozed_until=before(21)) == Decision(30, (90,))


def test_windows_given_in_any_order() -> None:
    rules = WindowRules((7, 180, 30), notify_expired=True, expired_lookback_days=0)
    assert decide(END, before(29), rules, set()) == Decision(30, (180,))
    assert decide(END, before(-1), rules, set()) == Decision(None)
    assert decide(END, before(0), rules, {180, 30}) == Decision(7)
