"""A run of a job, recorded: which run a job name means, and how each run ended."""

from __future__ import annotations

from datetime import date, datetime

from reminder import store
from reminder.runs.context import Context
from reminder.runs.reminder_run import run_reminders
from reminder.runs.report import RunReport
from reminder.runs.weekly_run import run_weekly


async def run_job(
    context: Context, job: str, *, as_of: date, now: datetime, dry_run: bool = False
) -> RunReport:
    """Run `job` ("reminders" or "digest") for `as_of` and record how the run ended.

    The job_runs table is what `status`, `health` and the catch-up after downtime read.
    A dry run records nothing. Returns the report; an exception is recorded as a failed
    run and raised again.
    """
    runner = run_weekly if job == "digest" else run_reminders
    if dry_run:
        return await runner(context, as_of=as_of, now=now, dry_run=True)
    with context.database.session() as session:
        run_id = store.start_job_run(session, job, as_of, now=now)
    try:
        report = await runner(context, as_of=as_of, now=now)
    except BaseException as error:
        with context.database.session() as session:
            store.finish_job_run(
                session,
                run_id,
                outcome="failed",
                summary=f"{type(error).__name__}: {error}",
                now=now,
            )
        raise
    outcome = "ok" if report.exit_status == 0 else "incomplete"
    with context.database.session() as session:
        store.finish_job_run(session, run_id, outcome=outcome, summary=report.summary, now=now)
    return report
