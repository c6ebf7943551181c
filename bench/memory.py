"""(d) Memory: the peak resident set of `reminder run-once` in a child process.

Two runs per repetition, from an empty ledger: the backlog day (the first run ever, when
every agreement already within a window is due: the biggest run there is) and the day
after it (a steady day). Both send to the sink; each peak is read by bench.childrusage,
a small parent of that child alone (see bench.processes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from bench.databases import Target, clear_ledger
from bench.processes import reminder_command, run
from bench.stats import Samples


@dataclass
class MemoryFigures:
    """Peak RSS in MB of run-once on the backlog day and on the steady day after it."""

    backlog: Samples = field(default_factory=lambda: Samples("MB"))
    steady: Samples = field(default_factory=lambda: Samples("MB"))


def measure_run_once_memory(
    target: Target, config: Path, day: date, *, repeat: int
) -> MemoryFigures:
    """Run `reminder run-once --as-of DAY-1`, then `--as-of DAY`, `repeat` times.

    Raises RuntimeError when a run fails.
    """
    figures = MemoryFigures()
    for _ in range(repeat):
        database = target.open()
        try:
            clear_ledger(database)
        finally:
            database.close()
        for as_of, peaks in ((day - timedelta(days=1), figures.backlog), (day, figures.steady)):
            command = reminder_command(config, "run-once", "--as-of", as_of.isoformat())
            peaks.add(run(command).check("reminder run-once").peak_rss_mb)
    return figures


def memory_breakdown(target: Target, config_path: Path, day: date) -> str:
    """Return where the memory of the backlog run goes, measured in-process by tracemalloc.

    Plans the backlog day and reports what the plan holds, then runs the whole job
    (compose and record batch by batch, deliver to the sink) from an empty ledger and
    reports its peak. Python's own objects only: the interpreter and the libraries come
    on top.
    """
    import asyncio
    import tracemalloc
    from datetime import UTC, datetime, time

    from reminder.cli.mail import build_context
    from reminder.config.loading import load_config
    from reminder.runs.job import run_job
    from reminder.runs.planning import plan_reminders
    from reminder.runs.reminder_run import RECORD_BATCH_BYTES

    database = target.open()
    try:
        clear_ledger(database)
        context = build_context(load_config(str(config_path)), database)
        backlog = day - timedelta(days=1)
        now = datetime.combine(backlog, time(8), tzinfo=UTC)
        tracemalloc.start()
        plan = plan_reminders(context, backlog)
        after_plan, _ = tracemalloc.get_traced_memory()
        due, digests = plan.due_count, len(plan.digests)
        del plan
        tracemalloc.reset_peak()
        report = asyncio.run(run_job(context, "reminders", as_of=backlog, now=now))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        clear_ledger(database)
    finally:
        database.close()
    return "\n".join(
        [
            f"backlog day {backlog}: {due:,} due in {digests:,} digests",
            f"after plan_reminders: {after_plan / 1e6:.1f} MB held",
            f"peak of the whole run (composed and recorded in batches of "
            f"{RECORD_BATCH_BYTES / 2**20:.0f} MB, then delivered): {peak / 1e6:.1f} MB; "
            f"{report.summary}",
        ]
    )
