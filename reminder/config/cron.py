"""Cron lines as the scheduler reads them: APScheduler triggers on one zone's wall clock.

A cron line in [schedule] is checked when the config loads by building this very
trigger, so a line the scheduler would refuse, or one that never fires, is a config
error named by its key rather than a failure of `serve`. APScheduler's trigger classes
are used here and its scheduler in reminder.service: the trigger is what a cron line
in the config means.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from reminder.errors import ConfigError

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: More than any DST change moves a zone's clocks (one hour, two at most).
_DST_SLACK = timedelta(hours=3)
#: A span of fixed instants in which every line that ever fires does (see _check_fires).
_NEVER_SPAN_START = datetime(2000, 1, 1, tzinfo=UTC)
_NEVER_SPAN_END = datetime(2005, 1, 1, tzinfo=UTC)


class CronSchedule(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no types
    """A crontab line read as cron reads it, on the wall clock of one time zone.

    APScheduler 3's CronTrigger does its arithmetic across DST changes in a way that
    skips days (a daily midnight run misses the day after the spring change: upstream
    issues #529 and #606, still so in 3.11). So the fields are matched on wall-clock
    time by a CronTrigger in UTC, which has no DST, and each wall time is then placed
    in the zone: a time the spring change skips fires just after the change; a time
    the autumn change repeats fires once when the hour is fixed (as cron does), and at
    both passes for an hourly or finer line, which follows elapsed time. Weekday
    numbers mean what they mean to cron (0 and 7 are Sunday).
    """

    __slots__ = ("expression", "fields", "skip_repeats", "zone")

    def __init__(self, expression: str, zone: tzinfo, *, key: str) -> None:
        """Raise ConfigError, naming `key`, if `expression` is not a usable crontab line."""
        try:
            self.fields = wall_clock_trigger(expression)
        except ValueError as error:
            raise ConfigError(f"at '{key}': {error}") from None
        self.expression, self.zone = expression, zone
        self.skip_repeats = expression.split()[1] != "*"

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the first fire time after `previous_fire_time` (even if it is past:
        APScheduler counts missed runs that way), or from `now` without one.

        Returns an aware datetime in UTC, or None when the line never fires again. In
        UTC because Python compares and adds to datetimes of one zone by their wall
        times, which cannot tell the two passes of a repeated hour apart.
        """
        if previous_fire_time is None:
            return self._first_from(now.astimezone(UTC))
        return self._first_from(previous_fire_time.astimezone(UTC) + timedelta(microseconds=1))

    def _first_from(self, start: datetime) -> datetime | None:
        wall = self._wall(start)
        first = self._next_wall(wall)
        if first is None:
            return None
        quick = self._instants(first)[0]
        if _offset(start - _DST_SLACK, self.zone) == _offset(quick + _DST_SLACK, self.zone):
            return quick  # no clock change near: wall time and real time run in step
        # Near a change wall times do not map to instants in order: look at every
        # matching wall time that can land at or after `start`, and take the earliest.
        best: datetime | None = None
        candidate = self._next_wall(wall - _DST_SLACK)
        while candidate is not None and (
            best is None or candidate <= self._wall(best) + _DST_SLACK
        ):
            for instant in self._instants(candidate):
                if instant >= start and (best is None or instant < best):
                    best = instant
            candidate = self._next_wall(candidate + timedelta(microseconds=1))
        return best

    def _wall(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone).replace(tzinfo=None)

    def _next_wall(self, wall: datetime) -> datetime | None:
        """Return the first wall time at or after `wall` (naive) that the fields match."""
        fire: datetime | None = self.fields.get_next_fire_time(None, wall.replace(tzinfo=UTC))
        return None if fire is None else fire.replace(tzinfo=None)

    def _instants(self, wall: datetime) -> list[datetime]:
        """Return the UTC instants at which the zone's clocks show `wall`, earliest first.

        A wall time the spring change skips gives the instant as far after the change
        as the time was after its start; one the autumn change repeats gives its first
        pass, and its second too unless the hour is fixed.
        """
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        skipped = self._wall(first) != wall
        if first == second or skipped or self.skip_repeats:
            return [first]
        return [first, second]

    def __str__(self) -> str:
        return f"cron {self.expression!r} ({self.zone})"


def wall_clock_trigger(expression: str, *, end: datetime | None = None) -> CronTrigger:
    """Return a CronTrigger matching the crontab line's fields on a wall clock (UTC).

    Raises ValueError, with the reason, for a line this scheduler cannot run: not 5
    fields, a value out of range, both day and weekday restricted, or never firing.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} needs 5 fields (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    if day not in ("*", "?") and weekday not in ("*", "?"):
        raise ValueError(
            f"{expression!r} restricts both the day of the month and the weekday; cron "
            "runs on either, this scheduler only on both: restrict one"
        )
    try:
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day.replace("?", "*"),
            month=month,
            day_of_week=_weekday_names(weekday.replace("?", "*")),
            timezone=UTC,
            end_date=end,
        )
    except ValueError as error:
        raise ValueError(f"{expression!r} is not a valid cron line: {error}") from None
    if end is None:
        _check_fires(expression)
    return trigger


def _check_fires(expression: str) -> None:
    """Raise ValueError if the line matches no time in a span that holds every one.

    Without a year field and with day and weekday never both restricted, a line that
    fires at all fires within any four years and a day (February 29th is the rarest
    day). The span is fixed, not read from the clock, so the answer never changes.
    """
    bounded = wall_clock_trigger(expression, end=_NEVER_SPAN_END)
    if bounded.get_next_fire_time(None, _NEVER_SPAN_START) is None:
        raise ValueError(f"{expression!r} never fires (no such day in any year)")


def _offset(instant: datetime, zone: tzinfo) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


def _weekday_names(field: str) -> str:
    """Return a crontab weekday field as APScheduler weekday names ("1-5" -> "mon,...,fri").

    APScheduler 3 counts weekdays from Monday = 0; cron from Sunday = 0 (7 too), so
    numbers are translated. Raises ValueError for a field cron would refuse.
    """
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"weekday step {step_text!r} must be 1 or more")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            first, last = _weekday(start_text), _weekday(end_text)
            last = 7 if last == 0 and first > 0 else last  # "fri-sun" runs up to Sunday
        else:
            first = _weekday(base)
            last = 6 if slash else first
        if last < first:
            raise ValueError(f"weekday range {base!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday(text: str) -> int:
    lowered = text.strip().lower()
    if lowered.isdigit() and int(lowered) <= 7:
        return int(lowered)
    if lowered in _WEEKDAYS:
        return _WEEKDAYS.index(lowered)
    raise ValueError(f"{text!r} is not a weekday (0-7 or sun-sat)")
