"""Wording of agreements, days and statuses, shared by the e-mail templates (as Jinja2
filters, see render) and the calendar events (see calendar_ics).

Pure: it imports only our dates, records and windows.
"""

from __future__ import annotations

from reminder.domain.dates import format_partial
from reminder.domain.records import AgreementView, CountryMatch, Precision, UntilSource
from reminder.domain.windows import NOTICE, Status


def days_in_words(days_left: int) -> str:
    """Return "in 30 days", "in 1 day", "today", "expired 1 day ago", "expired 3 days ago"."""
    if days_left == 0:
        return "today"
    if days_left > 0:
        return f"in {plural(days_left, 'day')}"
    return f"expired {plural(-days_left, 'day')} ago"


def expiry_in_words(days_left: int) -> str:
    """Return "expires in 7 days", "expires today" or "expired 3 days ago"."""
    words = days_in_words(days_left)
    return words if days_left < 0 else f"expires {words}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """Return the count with its noun: "1 agreement", "3 agreements"."""
    noun = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {noun}"


def window_name(window: int) -> str:
    """Return "180-day reminder", or "expiry notice" for the notice."""
    return "expiry notice" if window == NOTICE else f"{window}-day reminder"


def concluded_text(agreement: AgreementView) -> str:
    """Return the conclusion date as precise as the table gave it: "15.06.2017", "2017"."""
    return format_partial(agreement.concluded, agreement.concluded_precision)


def until_text(agreement: AgreementView) -> str:
    """Return the effective-until date, "about 2023-01-01" when it is approximate."""
    day = agreement.effective_until.isoformat()
    return f"about {day}" if agreement.approximate else day


def until_basis(agreement: AgreementView) -> str:
    """Return how the effective-until date was worked out, or "" when it was given."""
    if agreement.effective_until_source is UntilSource.TERM:
        basis = "no end date in the table: the conclusion date plus the term"
    elif agreement.effective_until_source is UntilSource.YEAR:
        basis = "only the year in the table: the anniversary of the conclusion date"
    elif agreement.approximate:
        basis = "only the month in the table: its first day"
    else:
        return ""
    if agreement.approximate and agreement.concluded_precision is not Precision.DAY:
        basis += "; the conclusion day is not known"
    return basis


def country_note(agreement: AgreementView) -> str:
    """Return the country code for after the country as written: "(AZ)", "(not recognised)"."""
    if agreement.country_code is None or agreement.country_match is CountryMatch.UNKNOWN:
        return "(not recognised)"
    if agreement.country_match is CountryMatch.APPROXIMATE:
        return f"({agreement.country_code}, matched approximately)"
    return f"({agreement.country_code})"


def status_label(status: Status, largest_window: int) -> str:
    """Return a status as the weekly counts name it."""
    labels = {
        Status.ACTIVE: f"In force beyond {largest_window} days",
        Status.EXPIRING: f"Expiring within {largest_window} days",
        Status.EXPIRED: "Expired",
        Status.SUPERSEDED: "Superseded",
        Status.RETIRED: "Retired",
    }
    return labels.get(status, str(status).capitalize())
