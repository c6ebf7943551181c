"""When each job is woken: the schedule built from [schedule], and its fire times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger

from reminder.config.schema import Config

#: The jobs named in [schedule], in the order one wake-up runs them; then the retry sweep.
SCHEDULED_JOBS = ("reminders", "digest")
RETRY_JOB = "retry"
_LOOKBACKS = tuple(
    timedelta(days=days) for days in (1 / 720, 1 / 12, 2, 16, 64, 400, 8 * 366, 30 * 366)
)


@dataclass(frozen=True)
class Schedule:
    """When each job is woken: the two cron schedules and the retry sweep's interval."""

    reminders: BaseTrigger
    digest: BaseTrigger
    retry_every: timedelta
    zone: tzinfo

    def trigger(self, job: str) -> BaseTrigger:
        """Return the trigger of "reminders" or "digest"."""
        return self.reminders if job == "reminders" else self.digest


def build_schedule(config: Config) -> Schedule:
    """Return the schedule [schedule] describes.

    The config's cron lines were checked when it loaded, by the same trigger class, so
    this raises ConfigError only for a config built without that check.
    """
    schedule = config.schedule
    return Schedule(
        schedule.trigger("reminders"),
        schedule.trigger("digest"),
        timedelta(minutes=schedule.retry_minutes),
        schedule.zone,
    )


def next_fire_time(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """Return the first time at or after `now` that `trigger` fires, or None."""
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    return fire


def previous_fire_time(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """Return the last time at or before `now` that `trigger` fired, or None within 30 years.

    APScheduler 3 only computes forwards, so this looks back over growing spans until
    one holds a fire time, then walks forward to the last one not after `now`.
    """
    for lookback in _LOOKBACKS:
        fire = next_fire_time(trigger, now - lookback)
        if fire is None or fire > now:
            continue
        while True:
            following: datetime | None = trigger.get_next_fire_time(fire, fire)
            if following is None or following > now:
                return fire
            fire = following
    return None


def missed_run(
    trigger: BaseTrigger, last_day: date | None, now: datetime, zone: tzinfo
) -> datetime | None:
    """Return the latest scheduled time whose day no completed run stands for, or None.

    `last_day` is the latest day a completed run was for, up to today. Runs are judged
    by the day they were for, in `zone` (the zone that tells a run its day), not by when
    they happened: `run-once --as-of 2022-01-17` done this morning does not stand for
    this morning's run. However many fire times passed, only the latest counts: a
    catch-up is one run. With no completed run at all, the latest fire time is missed.
    """
    scheduled = previous_fire_time(trigger, now)
    if scheduled is None:
        return None
    if last_day is not None and last_day >= scheduled.astimezone(zone).date():
        return None
    return scheduled
