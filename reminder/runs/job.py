"""A run of a job, recorded: which run a job name means, and how each run ended."""

from __future__ import annotations

from datetime import date, datetime

from reminder import store
from reminder.errors import InputError
from reminder.runs.context import Context
from reminder.runs.reminder_run import run_reminders
from reminder.runs.report import RunReport
from reminder.runs.weekly_run import run_weekly


async def run_job(
    context: Context,
    job: str,
    *,
    as_of: date,
    now: datetime,
    dry_run: bool = False,
    force: bool = False,
) -> RunReport:
    """Run `job` ("reminders" or "digest") for `as_of` and record how the run ended.

    The job_runs table is what `status`, `health` and the catch-up after downtime read.
    A dry run records nothing. Returns the report; an exception is recorded as a failed
    run and raised again.

    Raises InputError, recording nothing, when `as_of` is earlier than the day of the
    latest completed run of `job`, unless `force`: a run records the windows it passes
    as skipped, so after a run for a later day an earlier one would decide against a
    ledger from its future.
    """
    runner = run_weekly if job == "digest" else run_reminders
    if dry_run:
        return await runner(context, as_of=as_of, now=now, dry_run=True)
    if not force:
        with context.database.session(read_only=True) as session:
            latest = store.latest_run_day(session, job)
        if latest is not None and as_of < latest:
            raise InputError(
                f"refusing a {job} run for {as_of}: a {job} run for the later day {latest} "
                "has completed, and runs go forward in time (--force runs it anyway)"
            )
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
