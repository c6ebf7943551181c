"""Pure date rules: partial dates, year-only expiry, anniversaries and the agreement term.

Offices write dates the way they know them: a full day, a month with an unknown day
(`xx.01.2018`) or only a year (`2023` in an "effective until" column). This module turns
what was written into a `PartialDate` and decides, by the rules below, the day an agreement
stops being in force. Nothing here reads the clock: `as_of` days come in as parameters.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime

from reminder.domain.excerpt import clipped
from reminder.domain.records import Precision, UntilSource

# A year outside this range is a typo or a spreadsheet serial number (45000), not an
# agreement date; catching it here keeps such values from becoming dates in 9999.
MIN_YEAR = 1900
MAX_YEAR = 2200

_ACCEPTED_FORMATS = "dd.mm.yyyy, dd/mm/yyyy, yyyy-mm-dd, xx.mm.yyyy, mm.yyyy or yyyy"

_DAY_FIRST = re.compile(r"(?P<day>\d{1,2})(?P<sep>[./-])(?P<month>\d{1,2})(?P=sep)(?P<year>\d{4})")
# Spreadsheets exported to CSV often append a midnight time to dates.
_ISO = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?:[ T]00:00(?::00)?)?")
_UNKNOWN_DAY = re.compile(r"(?:xx?|\?\??)(?P<sep>[./-])(?P<month>\d{1,2})(?P=sep)(?P<year>\d{4})")
_MONTH_YEAR = re.compile(
    r"(?P<month>\d{1,2})[./](?P<year>\d{4})|(?P<iso_year>\d{4})-(?P<iso_month>\d{1,2})"
)
_YEAR = re.compile(r"(?P<year>\d{4})")
_TWO_DIGIT_YEAR = re.compile(r"(?:\d{1,2}|xx?|\?\??)[./-]\d{1,2}[./-]\d{2}|\d{1,2}[./]\d{2}")
# Days of each month in a common year (index 0 unused); calendar.monthrange would also
# work out the weekday of the first day, which an import asked for twice per row.
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date as far as the source gave it: a day, a month of a year, or a year.

    Raises ValueError (with a human reason) when the parts do not make a date.
    """

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        reason = _impossible_reason(self.year, self.month, self.day)
        if reason is not None:
            raise ValueError(reason)

    @property
    def precision(self) -> Precision:
        """Return how much of the date is known."""
        if self.day is not None:
            return Precision.DAY
        if self.month is not None:
            return Precision.MONTH
        return Precision.YEAR

    def earliest(self) -> date:
        """Return the first day this partial date can stand for."""
        return date(self.year, self.month or 1, self.day or 1)

    def latest(self) -> date:
        """Return the last day this partial date can stand for."""
        month = self.month or 12
        day = self.day or _days_in_month(self.year, month)
        return date(self.year, month, day)

    def __str__(self) -> str:
        return format_partial(self.earliest(), self.precision)


@dataclass(frozen=True, slots=True)
class ResolvedUntil:
    """The day an agreement stops being in force, and how sure we are of it."""

    effective_until: date
    source: UntilSource
    approximate: bool
    warning: str | None = None


def _impossible_reason(year: int, month: int | None, day: int | None) -> str | None:
    """Return why year/month/day do not make a date, or None when they do."""
    if not 1 <= year <= 9999:
        return f"there is no year {year}"
    if day is not None and month is None:
        return "a day needs a month"
    if month is not None and not 1 <= month <= 12:
        return f"there is no month {month}"
    if day is not None and month is not None:
        days_in_month = _days_in_month(year, month)
        if day < 1:
            return f"there is no day {day}"
        if day > days_in_month:
            return f"{calendar.month_name[month]} {year} has {days_in_month} days"
    return None


def _days_in_month(year: int, month: int) -> int:
    """Return the number of days of `month` (1-12) in `year`."""
    if month == 2 and calendar.isleap(year):
        return 29
    return _DAYS_IN_MONTH[month]


def day_out_of_range(day: date) -> str | None:
    """Return why `day` is outside the years reminder works with, or None when it is not.

    The importer refuses the same years: beyond them a window, an alarm or a term added
    to the date leaves the calendar Python can count in.
    """
    if MIN_YEAR <= day.year <= MAX_YEAR:
        return None
    return f"{day.isoformat()} is outside the years {MIN_YEAR}-{MAX_YEAR}"


def _check_year(text: str, year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"{text} is not a date: year {year} is outside {MIN_YEAR}-{MAX_YEAR}")


def _partial(text: str, year: int, month: int | None = None, day: int | None = None) -> PartialDate:
    _check_year(text, year)
    try:
        return PartialDate(year, month, day)
    except ValueError as error:
        raise ValueError(f"{text} is not a date: {error}") from None


# An import parses two dates per row, and a table repeats the same few thousand dates:
# the result (immutable) is remembered; a ValueError is not, so bad dates are parsed anew.
@functools.lru_cache(maxsize=16384)
def parse_date_text(text: str) -> PartialDate:
    """Parse a date as written in a table cell.

    Accepts dd.mm.yyyy, dd/mm/yyyy, dd-mm-yyyy, yyyy-mm-dd, an unknown day written
    `xx.mm.yyyy` or `??.mm.yyyy` (month precision), mm.yyyy, yyyy-mm and a bare yyyy (year
    precision). Day-first is assumed for dd/mm/yyyy: that is how the offices write.

    Returns the PartialDate. Raises ValueError with a human reason for an empty text, an
    impossible date, a two-digit year (ambiguous) or an unknown format.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("the date is empty")
    if match := _DAY_FIRST.fullmatch(stripped) or _ISO.fullmatch(stripped):
        return _partial(stripped, int(match["year"]), int(match["month"]), int(match["day"]))
    if match := _UNKNOWN_DAY.fullmatch(stripped.lower()):
        return _partial(stripped, int(match["year"]), int(match["month"]))
    if match := _MONTH_YEAR.fullmatch(stripped):
        year = match["year"] or match["iso_year"]
        month = match["month"] or match["iso_month"]
        return _partial(stripped, int(year), int(month))
    if match := _YEAR.fullmatch(stripped):
        return _partial(stripped, int(match["year"]))
    if _TWO_DIGIT_YEAR.fullmatch(stripped.lower()):
        raise ValueError(
            f"{stripped} is not a date: a two-digit year is ambiguous, write the year in full"
        )
    raise ValueError(f"{clipped(stripped)} is not a date: expected {_ACCEPTED_FORMATS}")


def partial_from_cell(value: object) -> PartialDate:
    """Turn a spreadsheet or text cell into a PartialDate.

    A date or datetime is a full day (any time of day is ignored), an int (or a float with
    no fraction, as spreadsheets store numbers) is a bare year, a string is parsed by
    `parse_date_text`. Returns the PartialDate; raises ValueError for anything else.
    """
    if type(value) is str:  # every cell of a text table: the common case, first
        return parse_date_text(value)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return _partial(value.isoformat(), value.year, value.month, value.day)
    if isinstance(value, bool) or value is None:
        raise ValueError("the date is empty" if value is None else f"{value} is not a date")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return _partial(str(value), value)
    if isinstance(value, str):
        return parse_date_text(value)
    raise ValueError(f"{clipped(str(value))} is not a date: expected {_ACCEPTED_FORMATS}")


def anniversary(concluded: date, year: int) -> date:
    """Return the anniversary of `concluded` in `year`; 29 February falls on 28 February."""
    if concluded.month == 2 and concluded.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return concluded.replace(year=year)


def add_years(day: date, years: int) -> date:
    """Return `day` moved by `years` whole years; 29 February falls on 28 February."""
    return anniversary(day, day.year + years)


# Rows of a table share their pairs of dates as much as their dates: remembered like
# parse_date_text (both arguments are immutable).
@functools.lru_cache(maxsize=16384)
def resolve_effective_until(
    concluded: PartialDate, until: PartialDate | None, term_years: int
) -> ResolvedUntil:
    """Decide the last day an agreement is in force.

    - A full until date is used as given.
    - A bare year Y is the anniversary of the conclusion date in Y (protocols run for a term
      from signature); a year other than conclusion year + term is kept, with a warning.
    - A month and year is the first day of that month, approximate; or the conclusion
      date, when it falls later in that same month.
    - No until at all is the conclusion date + `term_years`.
    A conclusion date without a day counts from its earliest possible day, and anything
    derived from it is approximate.

    Returns the ResolvedUntil. Raises ValueError when the until date is certainly before the
    conclusion date, or when `term_years` is not positive.
    """
    if term_years < 1:
        raise ValueError(f"the agreement term must be at least one year, not {term_years}")
    start = concluded.earliest()
    start_is_approximate = concluded.precision is not Precision.DAY
    if until is None:
        return ResolvedUntil(add_years(start, term_years), UntilSource.TERM, start_is_approximate)
    if until.latest() < start:
        raise ValueError(f"effective-until {until} is before the conclusion date {concluded}")
    if until.precision is Precision.DAY:
        return ResolvedUntil(until.earliest(), UntilSource.GIVEN, approximate=False)
    if until.precision is Precision.MONTH:
        # An agreement cannot end before it was concluded: "xx.06.2000" for one signed
        # on 02.06.2000 ends on the 2nd at the earliest, not on the 1st.
        return ResolvedUntil(max(until.earliest(), start), UntilSource.GIVEN, approximate=True)
    warning = None
    expected_year = start.year + term_years
    if until.year != expected_year:
        warning = (
            f"effective-until year {until.year} is not the conclusion year {start.year}"
            f" + the {term_years}-year term ({expected_year}); keeping {until.year}"
        )
    return ResolvedUntil(
        anniversary(start, until.year), UntilSource.YEAR, start_is_approximate, warning
    )


def days_left(effective_until: date, as_of: date) -> int:
    """Return the days from `as_of` to `effective_until`.

    An agreement is in force through its effective-until day: 0 means `as_of` is the last
    day, a negative number means it has expired.
    """
    return (effective_until - as_of).days


def format_partial(day: date, precision: Precision) -> str:
    """Return `day` written to `precision`: "15.06.2017", "01.2018" or "2018"."""
    if precision is Precision.DAY:
        return f"{day.day:02d}.{day.month:02d}.{day.year:04d}"
    if precision is Precision.MONTH:
        return f"{day.month:02d}.{day.year:04d}"
    return f"{day.year:04d}"
