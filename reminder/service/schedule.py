"""When each job is woken: the schedule built from [schedule], and its fire times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

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
    trigger: BaseTrigger, last_success: datetime | None, now: datetime
) -> datetime | None:
    """Return the scheduled time that passed without a successful run since, or None.

    However many fire times passed, only the latest counts: a catch-up is one run.
    With no successful run at all, the latest fire time is missed.
    """
    scheduled = previous_fire_time(trigger, now)
    if scheduled is None or (last_success is not None and last_success >= scheduled):
        return None
    return scheduled
