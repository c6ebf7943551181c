"""The service commands: serve, status, health."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from reminder.cli.common import load, open_db, print_json
from reminder.cli.mail import build_context

if TYPE_CHECKING:
    from collections.abc import Callable

    from reminder.config.schema import Config, HealthConfig
    from reminder.runs.context import Context
    from reminder.service.schedule import Schedule
    from reminder.store import FailingMessage, InstanceView, JobRunView
    from reminder.store.database import Database
    from reminder.web.state import Services

#: An instance whose heartbeat is older than this is not running any more: three
#: heartbeats (service.HEARTBEAT_EVERY, 15 s) missed, so a beat that comes a loop
#: late, a slow commit or a little clock skew between hosts do not count as gone.
INSTANCE_STALE = timedelta(seconds=45)


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_serve(args: argparse.Namespace) -> int:
    """`reminder serve`: run the schedule until SIGTERM; reload on SIGHUP."""
    import asyncio
    import logging

    from reminder.service.daemon import Service
    from reminder.service.lock import Role, instance_lock
    from reminder.web.server import WebServer, with_running_web

    if not args.debug:
        # A service's log is its only output: what each run decided and sent is INFO.
        logging.getLogger("reminder").setLevel(logging.INFO)
    config = load(args)
    with open_db(config) as database:
        context = build_context(config, database)

        def reload() -> Context:
            return build_context(load(args), database)

        async def serve() -> int:
            # The pages call the Context of the service's latest applied reload, and
            # follow its config (a refused reload reaches neither).
            services = web_services(lambda: service.context, database)
            web = WebServer(config, database, services) if config.web.enabled else None

            def reloaded(new: Context) -> None:
                if web is not None:
                    web.reload(new.config)
                else:  # no pages, but a changed [web] (turned on, say) needs a restart too
                    with_running_web(new.config, config)

            role = Role(instance_lock(database, config.database.url), database, now=_now())
            service = Service(context, role, reload=reload, on_reload=reloaded)
            # The web page listens before READY=1 goes out (Service.run sends it), and
            # standby instances serve it too: it does not depend on the role.
            if web is not None:
                await web.start()
            try:
                return await service.run()
            finally:
                if web is not None:
                    await web.stop()

        return asyncio.run(serve())


def cmd_web(args: argparse.Namespace) -> int:
    """`reminder web`: serve the web page alone until SIGTERM; SIGHUP reloads its config."""
    import asyncio
    import logging

    from reminder.service.web import serve_web_alone

    if not args.debug:
        logging.getLogger("reminder").setLevel(logging.INFO)
    config = load(args)
    with open_db(config) as database:
        # The Context the pages call (mail previews, status): the latest one read.
        latest = [build_context(config, database)]

        def reload() -> Config:
            # The config and templates read again; a bad one raises before it is kept.
            latest[0] = build_context(load(args), database)
            return latest[0].config

        services = web_services(lambda: latest[0], database)
        return asyncio.run(serve_web_alone(config, database, services, reload=reload))


def cmd_status(args: argparse.Namespace) -> int:
    """`reminder status`: running instances, last and next runs, pending, failed and
    partly failed mail."""
    config = load(args)
    with open_db(config) as database:
        report = status_report(config, database, _now())
    if args.json:
        print_json(report)
        return 0
    _print_status(report)
    return 0


def status_report(config: Config, database: Database, now: datetime) -> dict[str, Any]:
    """Return what `reminder status --json` prints (the web page's status page too)."""
    from reminder import store
    from reminder.service.schedule import RETRY_JOB, SCHEDULED_JOBS, build_schedule
    from reminder.store.models import REFUSED_STATES

    schedule = build_schedule(config)
    with database.session(read_only=True) as session:
        instances = store.live_instances(session, since=now - INSTANCE_STALE)
        runs = {job: store.last_job_run(session, job) for job in (*SCHEDULED_JOBS, RETRY_JOB)}
        counts = store.message_counts(session)
        failed = store.outbox_entries(session, states=list(REFUSED_STATES))
    active = next((i for i in instances if i.role == "active"), None)
    return {
        "instances": [_instance_json(i) for i in instances],
        "jobs": [
            {
                "job": job,
                "schedule": _schedule_text(config, job),
                "timezone": None if job == RETRY_JOB else config.schedule.timezone,
                "last_run": _run_json(runs[job]),
                "next_run": _iso(_next_run(schedule, job, active, now)),
            }
            for job in runs
        ],
        "messages": {
            "pending": counts.get("pending", 0),
            "failed": counts.get("failed", 0),
            "partly_failed": counts.get("partial", 0),
            "failed_messages": [
                {
                    "message_id": e.message_id,
                    "state": e.state,
                    "refused": [address for address, state, _ in e.recipients if state == "failed"],
                    "subject": e.subject,
                    "failing_since": _iso(e.failing_since),
                    "last_error": e.last_error,
                }
                for e in failed
            ],
        },
    }


def _print_status(report: dict[str, Any]) -> None:
    if not report["instances"]:
        print("no `reminder serve` is running")
    for instance in report["instances"]:
        print(
            f"{instance['role']:<8} {instance['hostname']} pid {instance['pid']}, "
            f"up since {instance['started_at']}, heartbeat {instance['heartbeat_at']}"
        )
    for job in report["jobs"]:
        last = job["last_run"]
        ended = (
            "never run"
            if last is None
            else (
                f"last run {last['started_at']} for {last['as_of']}: {last['outcome']}"
                + (f" ({last['summary']})" if last["summary"] else "")
            )
        )
        upcoming = job["next_run"] or "none (no active instance)"
        when = f"'{job['schedule']}' ({job['timezone']})" if job["timezone"] else job["schedule"]
        print(f"{job['job']:<9} {when}; {ended}; next run {upcoming}")
    messages = report["messages"]
    print(
        f"messages: {messages['pending']} pending, {messages['failed']} failed, "
        f"{messages['partly_failed']} partly failed"
    )
    for message in messages["failed_messages"]:
        print(
            f"  {message['state']:<7} {message['message_id']}: "
            f"{message['last_error'] or 'no error recorded'}"
        )


def _schedule_text(config: Config, job: str) -> str:
    if job == "reminders":
        return config.schedule.reminders
    if job == "digest":
        return config.schedule.digest
    return f"every {config.schedule.retry_minutes} min"


def _next_run(
    schedule: Schedule, job: str, active: InstanceView | None, now: datetime
) -> datetime | None:
    """Return when the active instance runs `job` next; None without an active instance."""
    from reminder.service.schedule import RETRY_JOB, next_fire_time

    if active is None:
        return None
    if job != RETRY_JOB:
        return next_fire_time(schedule.trigger(job), now)
    # The sweep's interval counts from the start of the instance's scheduler.
    every = schedule.retry_every
    periods = -(-(now - active.started_at) // every)  # rounded up
    return active.started_at + every * max(periods, 1)


def _instance_json(instance: InstanceView) -> dict[str, Any]:
    return {
        "instance": instance.instance,
        "hostname": instance.hostname,
        "pid": instance.pid,
        "role": instance.role,
        "started_at": _iso(instance.started_at),
        "heartbeat_at": _iso(instance.heartbeat_at),
    }


def _run_json(run: JobRunView | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "as_of": run.as_of.isoformat(),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "outcome": run.outcome,
        "summary": run.summary,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def cmd_health(args: argparse.Namespace) -> int:
    """`reminder health`: exit 0 when runs are on time and no mail fails for long, else 1."""
    config = load(args)
    with open_db(config) as database:
        healthy, line = health_line(config, database, _now())
    print(line)
    return 0 if healthy else 1


def health_line(config: Config, database: Database, now: datetime) -> tuple[bool, str]:
    """Return whether the installation is healthy and the line `reminder health` prints."""
    from reminder import store
    from reminder.service.schedule import build_schedule, previous_fire_time

    schedule = build_schedule(config)
    today = now.astimezone(config.zone).date()
    with database.session(read_only=True) as session:
        last_run = store.last_finished_run(session, "reminders")
        last_day = store.latest_run_day(session, "reminders", not_after=today)
        failing = store.oldest_failing_message(session)
    grace = timedelta(hours=config.health.grace_hours)
    due = previous_fire_time(schedule.reminders, now - grace)
    problem = health_problem(due, last_run, last_day, failing, config.health, now, config.zone)
    if problem is not None:
        return False, f"UNHEALTHY: {problem}"
    last = (
        "no reminder run due yet"
        if last_run is None
        else f"last reminder run {_iso(last_run.started_at)} for {last_run.as_of}"
    )
    outcome = last_run.outcome if last_run else "none"
    return True, f"OK: {last} ({outcome}); no message failing for long"


def web_services(context: Callable[[], Context], database: Database) -> Services:
    """Return what the web page's mail and status pages call: the same functions as
    `preview`, `outbox retry`, `status` and `health`, on the Context (and its config)
    that `context` returns at each call: for `serve`, that of its latest reload."""
    from reminder.web.state import Services

    return Services(
        context=context,
        status=lambda now: status_report(context().config, database, now),
        health=lambda now: health_line(context().config, database, now),
    )


def health_problem(
    due: datetime | None,
    last_run: JobRunView | None,
    last_day: date | None,
    failing: FailingMessage | None,
    limits: HealthConfig,
    now: datetime,
    zone: tzinfo,
) -> str | None:
    """Return why the installation is unhealthy, on one line, or None when it is healthy.

    `due` is the latest scheduled reminder run at least `limits.grace_hours` ago;
    `last_run` the latest finished reminder run; `last_day` the latest day, up to today,
    that a completed reminder run was for; `failing` the message failing longest.
    Unhealthy: the last run failed, no completed run was for the day of `due` (in
    `zone`) or a later one, or a message has been failing for longer than
    `limits.max_failing_hours`. Runs count by the day they were for, not by when they
    happened: `run-once --as-of` an old day does not stand for today's run.
    """
    from reminder.store.job_runs import SUCCESS_OUTCOMES

    problems = []
    if last_run is not None and last_run.outcome not in SUCCESS_OUTCOMES:
        problems.append(
            f"the last reminder run, started {_iso(last_run.started_at)}, failed: "
            f"{last_run.summary}"
        )
    elif due is not None and (last_day is None or last_day < due.astimezone(zone).date()):
        if last_run is None:
            problems.append(f"no reminder run recorded; one was due at {_iso(due)}")
        else:
            problems.append(
                f"no completed reminder run for {due.astimezone(zone).date()}, due at "
                f"{_iso(due)} (grace {limits.grace_hours} h); the latest was for "
                f"{last_day or 'no day up to today'}"
            )
    too_old = now - timedelta(hours=limits.max_failing_hours)
    if failing is not None and failing.failing_since < too_old:
        problems.append(
            f"message {failing.message_id} ({failing.state}) has been failing since "
            f"{_iso(failing.failing_since)}, over {limits.max_failing_hours} h: "
            f"{failing.last_error or 'no error recorded'}"
        )
    # One line for a monitoring check, whatever the error texts hold.
    return " ".join("; ".join(problems).split()) or None
