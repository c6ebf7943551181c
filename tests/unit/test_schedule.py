"""The service's schedule: cron lines read as cron reads them, across DST changes, the
catch-up rule, the health verdict, and the jobs the scheduler is given. A real scheduler
waking on the clock is tested in tests/integration/test_service.py.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reminder.cli.service import health_problem
from reminder.config.cron import CronSchedule
from reminder.config.schema import HealthConfig
from reminder.errors import ConfigError
from reminder.service.daemon import start_scheduler
from reminder.service.schedule import (
    RETRY_JOB,
    SCHEDULED_JOBS,
    Schedule,
    missed_run,
    next_fire_time,
    previous_fire_time,
)
from reminder.store import FailingMessage, JobRunView

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# The days the clocks change in 2025; the tests check that these are the change days.
DST_CHANGES = {
    BERLIN: (date(2025, 3, 30), date(2025, 10, 26)),
    NEW_YORK: (date(2025, 3, 9), date(2025, 11, 2)),
}
ZONES = list(DST_CHANGES)


def fires(trigger: CronSchedule, start: datetime, end: datetime) -> list[datetime]:
    """Return every fire time from `start` up to `end`, as APScheduler would run them."""
    found: list[datetime] = []
    fire = next_fire_time(trigger, start)
    while fire is not None and fire < end:
        found.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return found


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    """Return `moment` on `zone`'s clocks (through UTC: astimezone to a datetime's own
    zone would hand it back unchanged)."""
    return moment.astimezone(UTC).astimezone(zone)


def local_days(moments: list[datetime], zone: ZoneInfo) -> list[date]:
    return [local(moment, zone).date() for moment in moments]


def gaps(moments: list[datetime]) -> set[timedelta]:
    """Return the real time between successive moments (subtracting in UTC: Python
    subtracts datetimes of one zone by their wall times)."""
    return {b.astimezone(UTC) - a.astimezone(UTC) for a, b in itertools.pairwise(moments)}


def around(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the local midnights three days before and four days after `day`."""
    return (
        datetime.combine(day - timedelta(days=3), time(), tzinfo=zone),
        datetime.combine(day + timedelta(days=4), time(), tzinfo=zone),
    )


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_the_listed_days_are_the_dst_changes(zone: ZoneInfo) -> None:
    for day in DST_CHANGES[zone]:
        before = datetime.combine(day, time(), tzinfo=zone).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).utcoffset()
        assert before != after


@pytest.mark.parametrize("zone", ZONES, ids=str)
@pytest.mark.parametrize("local_time", [time(8, 0), time(0, 0), time(23, 30)])
def test_a_daily_run_fires_once_a_day_at_its_local_time_across_both_dst_changes(
    zone: ZoneInfo, local_time: time
) -> None:
    trigger = CronSchedule(f"{local_time.minute} {local_time.hour} * * *", zone, key="k")
    for change in DST_CHANGES[zone]:
        start, end = around(change, zone)
        found = fires(trigger, start, end)
        days = [start.date() + timedelta(days=n) for n in range(7)]
        assert local_days(found, zone) == days
        assert {local(moment, zone).time() for moment in found} == {local_time}


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_a_time_in_the_repeated_hour_fires_once_when_the_clocks_go_back(zone: ZoneInfo) -> None:
    autumn = DST_CHANGES[zone][1]
    # 01:30 local comes twice in New York that night, 02:30 twice in Berlin.
    hour = 1 if zone is NEW_YORK else 2
    trigger = CronSchedule(f"30 {hour} * * *", zone, key="k")
    start, end = around(autumn, zone)
    found = fires(trigger, start, end)
    assert local_days(found, zone) == [start.date() + timedelta(days=n) for n in range(7)]
    on_the_night = [m for m in found if m.astimezone(zone).date() == autumn]
    # The first pass, in summer time.
    assert on_the_night[0].astimezone(zone).fold == 0
    assert (
        on_the_night[0].astimezone(zone).utcoffset()
        == datetime.combine(autumn, time(), tzinfo=zone).utcoffset()
    )


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_a_time_in_the_skipped_hour_still_fires_that_day(zone: ZoneInfo) -> None:
    spring = DST_CHANGES[zone][0]
    trigger = CronSchedule("30 2 * * *", zone, key="k")
    start, end = around(spring, zone)
    found = fires(trigger, start, end)
    assert local_days(found, zone) == [start.date() + timedelta(days=n) for n in range(7)]
    (skipped,) = [local(m, zone) for m in found if local(m, zone).date() == spring]
    # 02:30 does not exist that night (02:00 becomes 03:00): it fires at 03:30.
    assert skipped.time() == time(3, 30)


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_an_hourly_run_follows_elapsed_time_through_both_changes(zone: ZoneInfo) -> None:
    trigger = CronSchedule("30 * * * *", zone, key="k")
    spring, autumn = DST_CHANGES[zone]
    for day, hours in ((spring, 23), (autumn, 25)):
        start = datetime.combine(day, time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
        found = fires(trigger, start, end)
        assert len(found) == hours
        assert gaps(found) == {timedelta(hours=1)}


@pytest.mark.parametrize(
    ("weekday_field", "expected"),
    [
        ("0", {"Sunday"}),
        ("7", {"Sunday"}),
        ("1", {"Monday"}),
        ("mon", {"Monday"}),
        ("1-5", {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}),
        ("fri-sun", {"Friday", "Saturday", "Sunday"}),
        ("5-7", {"Friday", "Saturday", "Sunday"}),
        ("*/2", {"Sunday", "Tuesday", "Thursday", "Saturday"}),
        ("1,3", {"Monday", "Wednesday"}),
        ("SAT", {"Saturday"}),
    ],
)
def test_weekdays_are_numbered_as_cron_numbers_them(weekday_field: str, expected: set[str]) -> None:
    trigger = CronSchedule(f"0 8 * * {weekday_field}", BERLIN, key="k")
    start = datetime(2025, 6, 2, tzinfo=BERLIN)  # a Monday
    found = fires(trigger, start, start + timedelta(days=14))
    assert {moment.strftime("%A") for moment in found} == expected
    assert len(found) == 2 * len(expected)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 8 * *", "needs 5 fields"),
        ("0 8 1 * mon", "restricts both the day of the month and the weekday"),
        ("0 8 * * 8", "is not a weekday"),
        ("0 8 * * sat-mon", "runs backwards"),
        ("0 25 * * *", "is not a valid cron line"),
        ("61 8 * * *", "is not a valid cron line"),
    ],
)
def test_a_bad_cron_line_is_a_config_error_naming_the_key(expression: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        CronSchedule(expression, BERLIN, key="schedule.digest")
    assert str(raised.value).startswith("at 'schedule.digest': ")
    assert reason in str(raised.value)


CRON_LINES = ["0 8 * * *", "0 8 * * mon", "*/5 * * * *", "30 2 * * *", "0 8 29 2 *", "0 0 1 * *"]


@settings(max_examples=60, deadline=None)
@given(
    expression=st.sampled_from(CRON_LINES),
    zone=st.sampled_from(ZONES),
    now=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
)
def test_the_previous_fire_time_is_the_last_one_not_after_now(
    expression: str, zone: ZoneInfo, now: datetime
) -> None:
    trigger = CronSchedule(expression, zone, key="k")
    previous = previous_fire_time(trigger, now)
    assert previous is not None
    assert previous <= now
    following = trigger.get_next_fire_time(previous, previous)
    assert following is not None and following > now
    # And the trigger does fire then: searching from just before finds it.
    assert next_fire_time(trigger, previous - timedelta(seconds=1)) == previous


def test_the_previous_fire_time_at_a_fire_time_is_that_time() -> None:
    trigger = CronSchedule("0 8 * * *", BERLIN, key="k")
    eight = datetime(2025, 6, 2, 8, 0, tzinfo=BERLIN)
    assert previous_fire_time(trigger, eight) == eight
    assert previous_fire_time(trigger, eight - timedelta(seconds=1)) == eight - timedelta(days=1)


def test_a_missed_run_is_the_latest_scheduled_time_only() -> None:
    trigger = CronSchedule("0 8 * * *", BERLIN, key="k")
    now = datetime(2025, 6, 5, 12, 0, tzinfo=BERLIN)
    today_at_eight = datetime(2025, 6, 5, 8, 0, tzinfo=BERLIN)
    # Three mornings passed since the last run's day: one catch-up, for the latest.
    assert missed_run(trigger, date(2025, 6, 2), now, BERLIN) == today_at_eight
    # No run at all: the latest scheduled time is missed (the first run is at start).
    assert missed_run(trigger, None, now, BERLIN) == today_at_eight
    # A run for today: nothing missed, whenever it happened.
    assert missed_run(trigger, date(2025, 6, 5), now, BERLIN) is None
    # Before today's time, a run for yesterday is the latest one due.
    morning = datetime(2025, 6, 5, 7, 0, tzinfo=BERLIN)
    assert missed_run(trigger, date(2025, 6, 4), morning, BERLIN) is None


def test_a_run_for_an_old_day_done_today_does_not_stand_for_todays() -> None:
    """The Quick start runs `run-once --as-of 2022-01-17`; a `serve` started the same
    day must still run today's reminders."""
    trigger = CronSchedule("0 8 * * *", BERLIN, key="k")
    now = datetime(2025, 6, 5, 12, 0, tzinfo=BERLIN)
    assert missed_run(trigger, date(2022, 1, 17), now, BERLIN) == datetime(
        2025, 6, 5, 8, 0, tzinfo=BERLIN
    )


def test_a_missed_run_is_judged_by_the_day_in_the_zone_given() -> None:
    # 23:30 in New York on the 4th is already the 5th in Berlin.
    trigger = CronSchedule("30 23 * * *", NEW_YORK, key="k")
    now = datetime(2025, 6, 5, 0, 0, tzinfo=NEW_YORK)
    assert missed_run(trigger, date(2025, 6, 4), now, NEW_YORK) is None
    assert missed_run(trigger, date(2025, 6, 4), now, BERLIN) is not None


# --- the health verdict ---------------------------------------------------------------------

NOW = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)
LIMITS = HealthConfig(max_failing_hours=24, grace_hours=2)
DUE = NOW - timedelta(hours=4)


def run(started: datetime, outcome: str = "ok", day: date | None = None) -> JobRunView:
    return JobRunView("reminders", day or started.date(), started, started, outcome, "summary text")


def failing(since: datetime) -> FailingMessage:
    return FailingMessage("<reminder.1@example.edu>", "pending", since, "451 4.3.0 later\nagain")


def verdict(last_run: JobRunView | None, message: FailingMessage | None = None) -> str | None:
    """Return health_problem's verdict on DUE, with `last_run` the last completed run too
    when it ended ok or incomplete."""
    completed = last_run is not None and last_run.outcome != "failed"
    last_day = last_run.as_of if completed and last_run is not None else None
    return health_problem(DUE, last_run, last_day, message, LIMITS, NOW, UTC)


def test_healthy_when_the_run_due_happened_and_nothing_fails_for_long() -> None:
    assert verdict(run(DUE + timedelta(seconds=1))) is None
    assert verdict(run(DUE), failing(NOW - timedelta(hours=23))) is None
    # A run for today before the scheduled time (a manual run at 07:00) stands for it.
    assert verdict(run(DUE - timedelta(hours=1))) is None
    assert health_problem(None, None, None, None, LIMITS, NOW, UTC) is None


@pytest.mark.parametrize(
    ("last_run", "message", "reason"),
    [
        (None, None, "no reminder run recorded; one was due at 2025-06-05T08:00:00+00:00"),
        (
            run(DUE - timedelta(days=1)),
            None,
            "no completed reminder run for 2025-06-05, due at 2025-06-05T08:00:00+00:00",
        ),
        # The Quick start's run for an old day, done after today's scheduled time.
        (
            run(DUE + timedelta(minutes=5), day=date(2022, 1, 17)),
            None,
            "the latest was for 2022-01-17",
        ),
        (run(DUE, "failed"), None, "failed: summary text"),
        (run(DUE), failing(NOW - timedelta(hours=25)), "has been failing since"),
    ],
)
def test_unhealthy_says_why_on_one_line(
    last_run: JobRunView | None, message: FailingMessage | None, reason: str
) -> None:
    problem = verdict(last_run, message)
    assert problem is not None
    assert reason in problem
    assert "\n" not in problem


def test_every_problem_is_named() -> None:
    problem = verdict(None, failing(NOW - timedelta(days=2)))
    assert problem is not None
    assert "no reminder run recorded" in problem
    assert "<reminder.1@example.edu> (pending) has been failing" in problem


# --- the scheduler's jobs ---------------------------------------------------------------


def test_the_scheduler_holds_one_job_per_name_that_wakes_that_job() -> None:
    """Each job is configured to run late rather than never, once however many ticks
    were missed, and its tick only wakes the job. No time passes: ticks are called."""
    never_soon = CronSchedule("0 8 1 1 *", BERLIN, key="k")
    schedule = Schedule(never_soon, never_soon, timedelta(minutes=15), BERLIN)
    woken: list[str] = []

    async def scenario() -> list[tuple[str, bool, object, int, Any]]:
        scheduler = start_scheduler(schedule, woken.append)
        try:
            jobs = scheduler.get_jobs()
            for job in jobs:
                await job.func(*job.args)
            return [
                (job.id, job.coalesce, job.misfire_grace_time, job.max_instances, job.trigger)
                for job in jobs
            ]
        finally:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)

    jobs = {job_id: rest for job_id, *rest in asyncio.run(scenario())}
    assert set(jobs) == {*SCHEDULED_JOBS, RETRY_JOB}
    assert all(options[:3] == [True, None, 1] for options in jobs.values())
    assert jobs["reminders"][3] is never_soon
    assert jobs["digest"][3] is never_soon
    assert jobs[RETRY_JOB][3].interval == timedelta(minutes=15)
    assert sorted(woken) == sorted([*SCHEDULED_JOBS, RETRY_JOB])
