"""(b) Selection: what `reminder due` decides (planning.plan_reminders) against one query.

The floor is a hand-written query through the driver itself (sqlite3, psycopg) that
reads the same rows plan_reminders needs: the active agreements whose effective-until
lies within the horizon, each with the windows already in the ledger, by the
(lifecycle, effective_until) index. Ours also routes each agreement and decides its
window; the floor decides nothing.

The sweep runs both with renewal windows of different sizes on the same database: the
number of agreements within the horizon changes, N does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bench.databases import Target
from bench.stats import Samples, timed
from reminder.cli.mail import build_context
from reminder.config.schema import Config
from reminder.domain.windows import window_horizon
from reminder.runs.context import Context
from reminder.runs.planning import ReminderPlan, plan_reminders

#: Renewal windows of the sweep: each horizon reads a different share of the portfolio.
SWEEP_WINDOWS: tuple[tuple[int, ...], ...] = ((7,), (30,), (90,), (180, 90, 30, 7), (365,), (730,))

_FLOOR_SQL = """
SELECT a.id, a.partner, a.country, a.country_code, a.country_match, a.programme, a.notes,
       a.concluded, a.concluded_precision, a.effective_until, a.effective_until_source,
       a.approximate, a.lifecycle, a.coordinator_email, a.data_warnings, a.retired_reason,
       a.snoozed_until, a.superseded_by_id, r.recipient, r.window_days
FROM agreements a
LEFT JOIN reminders r ON r.agreement_id = a.id AND r.effective_until = a.effective_until
WHERE a.lifecycle = 'active' AND a.effective_until BETWEEN {low} AND {high}
ORDER BY a.effective_until, a.id
"""


@dataclass
class SweepPoint:
    """One window setting of the sweep."""

    windows: tuple[int, ...]
    candidates: int
    due: int
    ours: Samples = field(default_factory=lambda: Samples("s"))
    floor: Samples = field(default_factory=lambda: Samples("s"))


@dataclass
class SelectionFigures:
    """The selection at the configured windows, and the sweep."""

    candidates: int = 0
    due: int = 0
    digests: int = 0
    ours: Samples = field(default_factory=lambda: Samples("s"))
    floor: Samples = field(default_factory=lambda: Samples("s"))
    query_plan: str = ""
    sweep: list[SweepPoint] = field(default_factory=list)


def floor_query(target: Target, connection: Any, low: date, high: date) -> list[Any]:
    """Run the hand-written query on the driver's `connection`; return all rows."""
    placeholder = "?" if target.kind == "sqlite" else "%s"
    cursor = connection.cursor()
    cursor.execute(_FLOOR_SQL.format(low=placeholder, high=placeholder), (low, high))
    rows: list[Any] = cursor.fetchall()
    cursor.close()
    connection.rollback()  # end the read transaction, as plan_reminders does
    return rows


def query_plan(target: Target, connection: Any, low: date, high: date) -> str:
    """Return the database's plan for the floor query, to show that it uses the index."""
    cursor = connection.cursor()
    if target.kind == "sqlite":
        cursor.execute("EXPLAIN QUERY PLAN " + _FLOOR_SQL.format(low="?", high="?"), (low, high))
        lines = [str(row[-1]) for row in cursor.fetchall()]
    else:
        cursor.execute("EXPLAIN " + _FLOOR_SQL.format(low="%s", high="%s"), (low, high))
        lines = [str(row[0]) for row in cursor.fetchall()]
    cursor.close()
    connection.rollback()
    return "\n".join(lines)


def measure_selection(
    target: Target, config: Config, as_of: date, *, repeat: int, sweep: bool = True
) -> SelectionFigures:
    """Time plan_reminders and the floor on `target` as of `as_of`, `repeat` times each."""
    figures = SelectionFigures()
    database = target.open()
    connection = target.raw_connection()
    try:
        context = build_context(config, database)
        low, high = horizon(context, as_of)
        figures.query_plan = query_plan(target, connection, low, high)
        plan, ours, floor, candidates = _compare(target, context, connection, as_of, repeat)
        figures.ours, figures.floor, figures.candidates = ours, floor, candidates
        figures.due, figures.digests = plan.due_count, len(plan.digests)
        if sweep:
            for windows in SWEEP_WINDOWS:
                reminders = config.reminders.model_copy(update={"windows": windows})
                variant = build_context(
                    config.model_copy(update={"reminders": reminders}), database
                )
                plan, ours, floor, candidates = _compare(target, variant, connection, as_of, repeat)
                figures.sweep.append(
                    SweepPoint(windows, candidates, plan.due_count, ours=ours, floor=floor)
                )
    finally:
        connection.close()
        database.close()
    return figures


def horizon(context: Context, as_of: date) -> tuple[date, date]:
    """Return the first and last effective-until day a run as of `as_of` reads."""
    ahead, behind = window_horizon(context.rules)
    return as_of - timedelta(days=behind), as_of + timedelta(days=ahead)


def _compare(
    target: Target, context: Context, connection: Any, as_of: date, repeat: int
) -> tuple[ReminderPlan, Samples, Samples, int]:
    """Time both `repeat` times, alternating, after one warm-up run of each."""
    low, high = horizon(context, as_of)
    plan = plan_reminders(context, as_of)
    rows = floor_query(target, connection, low, high)
    ours, floor = Samples("s"), Samples("s")
    for _ in range(repeat):
        plan, seconds = timed(lambda: plan_reminders(context, as_of))
        ours.add(seconds)
        rows, seconds = timed(lambda: floor_query(target, connection, low, high))
        floor.add(seconds)
    return plan, ours, floor, len({row[0] for row in rows})
