"""`reminder serve`: the schedule, catch-up, one active instance, signals and sd_notify.

A scheduler tick only wakes a job; the job decides from the ledger what is due, so a
late, missed or doubled tick does no harm. Runs happen one at a time in the event
loop. Their database calls are short transactions that run in the loop itself (the
longest wait is SQLite's busy timeout of a few seconds, far below the unit's
WatchdogSec) and the SMTP conversation is asynchronous, so the loop stays free for the
watchdog, the heartbeat and signals. This module is the only one importing APScheduler.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from reminder import store
from reminder.errors import ReminderError
from reminder.runs.context import Context
from reminder.runs.delivery import deliver_pending
from reminder.runs.job import run_job
from reminder.service import sdnotify
from reminder.service.lock import Role
from reminder.service.schedule import (
    RETRY_JOB,
    SCHEDULED_JOBS,
    Schedule,
    build_schedule,
    missed_run,
    next_fire_time,
)

log = logging.getLogger(__name__)

#: How long a stopping service lets the run under way finish before cancelling it
#: (what it has not sent stays pending); the unit's TimeoutStopSec= is 30 s.
STOP_GRACE_SECONDS = 20.0
#: A wall clock that moved this much more (or less) than the monotonic clock between
#: two checks means the machine slept (CLOCK_MONOTONIC stops during suspend) or the
#: clock was set. asyncio's timers, and with them APScheduler's, run on the monotonic
#: clock, so after a resume the scheduler would otherwise wake late.
CLOCK_JUMP = timedelta(seconds=60)
#: How often an instance writes its heartbeat row: a third of the 45 seconds after
#: which `reminder status` calls an instance gone, and rarely enough that an idle
#: service costs next to nothing (each beat is a committed write).
HEARTBEAT_EVERY = timedelta(seconds=15)
#: Retry sweeps are recorded as job runs; older ones than this are deleted.
RETRY_RUNS_KEPT = timedelta(days=7)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def start_scheduler(schedule: Schedule, wake: Callable[[str], None]) -> AsyncIOScheduler:
    """Start an APScheduler in the running event loop that calls `wake(job)` on each tick.

    Job ids are the job names, so a reload replaces them in place. coalesce=True and
    misfire_grace_time=None on purpose: APScheduler's default grace of one second
    silently drops a tick that comes late (after a suspend, or with the loop busy),
    whereas a late tick is harmless here and runs once however many were missed.
    """

    async def tick(job: str) -> None:
        wake(job)

    scheduler = AsyncIOScheduler(timezone=schedule.zone)
    options = {"coalesce": True, "misfire_grace_time": None, "max_instances": 1}
    for job in SCHEDULED_JOBS:
        scheduler.add_job(tick, schedule.trigger(job), args=(job,), id=job, name=job, **options)
    retry = IntervalTrigger(seconds=schedule.retry_every.total_seconds(), timezone=schedule.zone)
    scheduler.add_job(tick, retry, args=(RETRY_JOB,), id=RETRY_JOB, name=RETRY_JOB, **options)
    scheduler.start()
    return scheduler


# --- the service ---------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Service:
    """One `serve` process: active (runs the jobs) or standby (waits to take over).

    `reload` returns a fresh Context from the configuration on disk (raising
    ConfigError or TemplateError); `on_reload` is told each Context a reload applied
    (the web page follows it); `clock` and `monotonic` are the wall and monotonic
    clocks, replaceable to test a clock jump. Raises ConfigError for a bad schedule.
    """

    def __init__(
        self,
        context: Context,
        role: Role,
        *,
        reload: Callable[[], Context],
        on_reload: Callable[[Context], None] | None = None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.context = context
        self.schedule = build_schedule(context.config)
        self.role = role
        self._reload_context, self._on_reload = reload, on_reload
        self._clock, self._monotonic = clock, monotonic
        self._environ = os.environ if environ is None else environ
        self._wanted: dict[str, str] = {}  # job -> why it is wanted
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._scheduler: AsyncIOScheduler | None = None
        self._reload_task: asyncio.Task[None] | None = None

    # --- running and stopping ---

    async def run(self) -> int:
        """Serve until SIGTERM or SIGINT; return the exit status, 0.

        READY=1 goes out once the transport, the lock and the database answered.
        Raises ConfigError when the mail transport cannot be set up, StoreError when
        the lock or the database cannot be reached at start.
        """
        await _check_transport(self.context)
        loop = asyncio.get_running_loop()
        self._update_role()
        self.role.beat(self._clock())
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon)
        self._scheduler = start_scheduler(self.schedule, self.want)
        self._log_schedule()
        self._notify("READY=1", self._status_line())
        worker = loop.create_task(self._work(), name="reminder jobs")
        helpers = [loop.create_task(self._keep_role(), name="reminder role")]
        watchdog = sdnotify.watchdog_interval(self._environ)
        if watchdog is not None:
            helpers.append(loop.create_task(self._ping_watchdog(watchdog), name="watchdog"))
        try:
            await self._stopping.wait()
        finally:
            await self._shut_down(worker, helpers)
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
        return 0

    def stop(self, signum: int | None = None) -> None:
        """Stop taking new work; the run under way may finish (see STOP_GRACE_SECONDS)."""
        if self._stopping.is_set():
            return
        name = signal.Signals(signum).name if signum is not None else "stop"
        log.info("%s: stopping after the run under way, if any", name)
        self._notify("STOPPING=1")
        self._stopping.set()
        self._wake.set()

    async def _shut_down(
        self, worker: asyncio.Task[None], helpers: list[asyncio.Task[None]]
    ) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        self._wake.set()
        done, _ = await asyncio.wait({worker}, timeout=STOP_GRACE_SECONDS)
        if not done:
            log.warning(
                "the run under way did not end within %.0f s: cancelled; what it had not "
                "sent stays pending for the next run",
                STOP_GRACE_SECONDS,
            )
            worker.cancel()
        for task in helpers:
            task.cancel()
        await asyncio.gather(worker, *helpers, return_exceptions=True)
        self.role.leave()
        log.info("stopped")

    # --- the jobs ---

    def want(self, job: str, why: str = "scheduled") -> None:
        """Ask for a run of `job`; a run already wanted is not doubled.

        `why` is "scheduled" (run: the job decides what is due), "catch-up" (run only if
        a scheduled time passed without a successful run) or "sweep".
        """
        if self._wanted.get(job) != "scheduled":
            self._wanted[job] = why
        self._wake.set()

    def _want_catch_up(self) -> None:
        for job in SCHEDULED_JOBS:
            self.want(job, "catch-up")
        self.want(RETRY_JOB, "sweep")

    async def _work(self) -> None:
        """Run the wanted jobs one at a time until the service stops."""
        while not self._stopping.is_set():
            await self._wake.wait()
            self._wake.clear()
            while self._wanted and not self._stopping.is_set():
                job = next(j for j in (*SCHEDULED_JOBS, RETRY_JOB) if j in self._wanted)
                await self._run(job, self._wanted.pop(job))

    async def _run(self, job: str, why: str) -> None:
        try:
            was_active = self.role.active
            if not self.role.confirm():
                if was_active:  # it has just lost the lock
                    self._notify(self._status_line())
                log.debug("standby: %s run (%s) left to the active instance", job, why)
                return
            context = dataclasses.replace(self.context, stop_requested=self._stopping.is_set)
            now = self._clock()
            as_of = now.astimezone(context.config.zone).date()
            if why == "catch-up" and not self._missed(job, now):
                return
            if job == RETRY_JOB:
                await self._sweep(context, as_of, now)
                return
            report = await run_job(context, job, as_of=as_of, now=now)
            outcome = "ok" if report.exit_status == 0 else "incomplete"
            log.info("%s run (%s) for %s: %s; %s", job, why, as_of, outcome, report.summary)
        except ReminderError as error:
            log.error("%s run (%s) failed: %s", job, why, "; ".join(error.problems))
        except Exception:
            log.exception("%s run (%s) failed", job, why)

    def _missed(self, job: str, now: datetime) -> bool:
        """Return whether a scheduled time of `job` passed with no completed run for its day."""
        zone = self.context.config.zone
        with self.context.database.session(read_only=True) as session:
            last_day = store.latest_run_day(session, job, not_after=now.astimezone(zone).date())
        missed = missed_run(self.schedule.trigger(job), last_day, now, zone)
        if missed is not None:
            log.info("the %s run due at %s has not happened: running it now", job, _stamp(missed))
        return missed is not None

    async def _sweep(self, context: Context, as_of: date, now: datetime) -> None:
        """Retry the pending messages whose time has come; record the sweep as a run."""
        database = context.database
        with database.session() as session:
            run_id = store.start_job_run(session, RETRY_JOB, as_of, now=now)
        try:
            report = await deliver_pending(context, now=now)
        except BaseException as error:
            with database.session() as session:
                summary = f"{type(error).__name__}: {error}"
                store.finish_job_run(session, run_id, outcome="failed", summary=summary, now=now)
            raise
        summary = f"{report.sent} sent; {report.pending} pending, {report.failed} failed"
        outcome = "incomplete" if report.pending or report.failed else "ok"
        with database.session() as session:
            store.finish_job_run(session, run_id, outcome=outcome, summary=summary, now=now)
            store.prune_job_runs(session, RETRY_JOB, before=now - RETRY_RUNS_KEPT)
        log.log(logging.INFO if report.messages else logging.DEBUG, "retry sweep: %s", summary)

    # --- the role, the clock, the watchdog ---

    def _update_role(self) -> None:
        changed = self.role.update()
        if changed is not None:
            self._notify(self._status_line())
        if changed == "active":
            self._want_catch_up()

    async def _keep_role(self) -> None:
        """Every few seconds check the clock and take or keep the lock; every
        HEARTBEAT_EVERY (and on a change of role) write the heartbeat."""
        last_wall, last_monotonic = self._clock(), self._monotonic()
        last_beat = last_monotonic
        problem: str | None = None
        while True:
            # A standby tries the lock this often, so it takes over well within
            # ha.takeover_seconds of the active instance's end.
            await asyncio.sleep(min(5.0, self.context.config.ha.takeover_seconds / 4))
            wall, monotonic = self._clock(), self._monotonic()
            self._check_clock(wall - last_wall, monotonic - last_monotonic)
            last_wall, last_monotonic = wall, monotonic
            try:
                role = self.role.name
                self._update_role()
                beat_due = monotonic - last_beat >= HEARTBEAT_EVERY.total_seconds()
                if beat_due or role != self.role.name or problem is not None:
                    self.role.beat(wall)
                    last_beat = monotonic
            except ReminderError as error:
                # Said once, not every few seconds for as long as the database is away.
                if problem != str(error):
                    log.error("cannot check the role: %s", "; ".join(error.problems))
                problem = str(error)
            else:
                if problem is not None:
                    log.info("the database answers again")
                problem = None

    def _check_clock(self, wall_elapsed: timedelta, monotonic_seconds: float) -> None:
        jump = wall_elapsed - timedelta(seconds=monotonic_seconds)
        if abs(jump) < CLOCK_JUMP:
            return
        log.warning(
            "the wall clock moved %s against the monotonic one (suspend and resume, or the "
            "clock was set): looking for missed runs",
            timedelta(seconds=round(jump.total_seconds())),
        )
        if self._scheduler is not None:
            self._scheduler.wakeup()  # its timer runs on the monotonic clock
        if self.role.active:
            self._want_catch_up()

    async def _ping_watchdog(self, interval: float) -> None:
        while True:
            self._notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    def _notify(self, *assignments: str) -> None:
        sdnotify.notify(*assignments, environ=self._environ)

    def _status_line(self) -> str:
        return f"STATUS={self.role.name}: {self.role.lock.description}"

    # --- reloading ---

    def _reload_soon(self) -> None:
        if self._reload_task is not None and not self._reload_task.done():
            log.info("SIGHUP: a reload is already under way")
            return
        self._reload_task = asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        """Load the configuration and templates again; keep the running ones if they are bad."""
        self._notify(*sdnotify.reloading())
        try:
            context = self._reload_context()
            schedule = build_schedule(context.config)
            await _check_transport(context)
        except ReminderError as error:
            for problem in error.problems:
                log.error("SIGHUP: reload refused, the running configuration stays: %s", problem)
        else:
            self._apply(context, schedule)
        finally:
            self._notify("READY=1", self._status_line())

    def _apply(self, context: Context, schedule: Schedule) -> None:
        old = self.context.config
        if context.config.database.url != old.database.url:
            log.warning("SIGHUP: database.url changed: restart the service to use the new one")
        self.context, self.schedule = context, schedule
        if self._scheduler is not None:
            for job in SCHEDULED_JOBS:
                self._scheduler.reschedule_job(job, trigger=schedule.trigger(job))
            if context.config.schedule.retry_minutes != old.schedule.retry_minutes:
                retry = IntervalTrigger(
                    seconds=schedule.retry_every.total_seconds(), timezone=schedule.zone
                )
                self._scheduler.reschedule_job(RETRY_JOB, trigger=retry)
        if self._on_reload is not None:
            self._on_reload(context)
        log.info(
            "SIGHUP: configuration reloaded from %s; it applies from the next run",
            context.config.source or "(defaults)",
        )
        self._log_schedule()

    def _log_schedule(self) -> None:
        now = self._clock()
        log.info(
            "schedule: reminders %s, next %s; digest %s, next %s; retry every %s",
            self.schedule.reminders,
            _stamp(next_fire_time(self.schedule.reminders, now) or now),
            self.schedule.digest,
            _stamp(next_fire_time(self.schedule.digest, now) or now),
            self.schedule.retry_every,
        )


async def _check_transport(context: Context) -> None:
    """Set the mail transport up once (CA file, transport name); it connects only to send.

    Raises ConfigError.
    """
    transport = context.open_transport()
    await transport.close()
