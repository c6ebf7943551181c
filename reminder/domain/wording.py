"""Wording of agreements, days, dates and statuses in the reader's language, shared by
the e-mail templates (as Jinja2 filters, see mail.render) and the calendar events.

A `Wording` holds the reader's translations (gettext catalogs, loaded by mail.i18n)
and their locale; the texts here are the English message ids the catalogs translate.
Dates are written by Babel in the reader's locale ("17 January 2022", "17 Ocak
2022"); ISO dates belong to the JSON and the CLI, not here.

Pure: the translations are handed in, like today's date; no file is read here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from gettext import NullTranslations
from typing import Protocol

from babel import Locale
from babel.dates import format_date, format_time

from reminder.domain import data_warnings
from reminder.domain.dates import format_partial
from reminder.domain.records import AgreementView, CountryMatch, Precision, UntilSource
from reminder.domain.windows import NOTICE, Status

#: The locale whose conventions a language's dates follow, where it is not the language
#: itself: the office's English readers are in Europe, who write "17 January 2022".
_LOCALE_OF = {"en": "en_GB"}


def babel_locale(language: str) -> str:
    """Return the Babel locale a language's dates and country names are written in."""
    return _LOCALE_OF.get(language, language)


class Words(Protocol):
    """What Wording needs of a catalog: gettext.NullTranslations, Babel's Translations."""

    def gettext(self, message: str, /) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


@functools.lru_cache(maxsize=16)
def _territories(locale: str) -> dict[str, str]:
    return dict(Locale.parse(locale).territories)


@functools.lru_cache(maxsize=16_384)
def _long_date(day: date, locale: str) -> str:
    # Babel's result, kept: it parses the locale and the CLDR pattern at every call
    # (about 20 us), and a page of the agreements list writes 50 dates, a digest up to
    # hundreds, mostly the same few. 16,384 entries are about 45 years of days in one
    # language, a few megabytes at most.
    return format_date(day, "long", locale=locale)


@dataclass(frozen=True)
class Wording:
    """The reader's words: `words` translates, `language` picks date and country names."""

    words: Words = field(default_factory=NullTranslations)
    language: str = "en"

    @property
    def locale(self) -> str:
        """Return the Babel locale of the reader's language."""
        return babel_locale(self.language)

    def long_date(self, day: date) -> str:
        """Return `day` as the reader writes it: "17 January 2022", "17 Ocak 2022"."""
        return _long_date(day, self.locale)

    def moment(self, when: datetime, zone: tzinfo) -> str:
        """Return `when` in `zone` as the reader writes it: "2 March 2026 09:00",
        "2 Mart 2026 09:00"."""
        local = when.astimezone(zone)
        time = format_time(local, "short", locale=self.locale)
        return f"{self.long_date(local.date())} {time}"

    def month(self, day: date, *, short: bool = False, year: bool = True) -> str:
        """Return the month of `day`: "January 2022"; short: "Jan 2022"; without the year."""
        pattern = ("LLL" if short else "LLLL") + (" y" if year else "")
        return format_date(day, pattern, locale=self.locale)

    def days_in_words(self, days_left: int) -> str:
        """Return "in 30 days", "in 1 day", "today", "expired 3 days ago"."""
        if days_left == 0:
            return self.words.gettext("today")
        if days_left > 0:
            text = self.words.ngettext("in %(num)d day", "in %(num)d days", days_left)
            return text % {"num": days_left}
        text = self.words.ngettext(
            "expired %(num)d day ago", "expired %(num)d days ago", -days_left
        )
        return text % {"num": -days_left}

    def days_left_words(self, days_left: int, status: Status) -> str:
        """Return what the web pages write under an agreement's date: "3 days left",
        "expired 2 days ago", or "" when it is superseded or retired."""
        if status in (Status.ACTIVE, Status.EXPIRING):
            text = self.words.ngettext("%(count)s day left", "%(count)s days left", days_left)
            return text % {"count": days_left}
        if status is Status.EXPIRED:
            return self.days_in_words(days_left)  # "expired 2 days ago"
        return ""

    def expiry(self, days_left: int) -> str:
        """Return "expires in 7 days", "expires today" or "expired 3 days ago"."""
        if days_left == 0:
            return self.words.gettext("expires today")
        if days_left > 0:
            text = self.words.ngettext(
                "expires in %(num)d day", "expires in %(num)d days", days_left
            )
            return text % {"num": days_left}
        text = self.words.ngettext(
            "expired %(num)d day ago", "expired %(num)d days ago", -days_left
        )
        return text % {"num": -days_left}

    def window_name(self, window: int) -> str:
        """Return "180-day reminder", or "expiry notice" for the notice."""
        if window == NOTICE:
            return self.words.gettext("expiry notice")
        return self.words.gettext("%(window)d-day reminder") % {"window": window}

    def window_title(self, window: int) -> str:
        """Return a window as a heading: "180-day reminder", "Expiry notice"."""
        if window == NOTICE:
            return self.words.gettext("Expiry notice")
        return self.words.gettext("%(window)d-day reminder") % {"window": window}

    def concluded(self, agreement: AgreementView) -> str:
        """Return the conclusion date as precise as the table gave it: "15.06.2017", "2017"."""
        return format_partial(agreement.concluded, agreement.concluded_precision)

    def until(self, agreement: AgreementView) -> str:
        """Return the effective-until date, "about 1 January 2023" when approximate."""
        day = self.long_date(agreement.effective_until)
        if agreement.approximate:
            return self.words.gettext("about %(date)s") % {"date": day}
        return day

    def until_basis(self, agreement: AgreementView) -> str:
        """Return how the effective-until date was worked out, or "" when it was given."""
        gettext = self.words.gettext
        if agreement.effective_until_source is UntilSource.TERM:
            basis = gettext("no end date in the table: the conclusion date plus the term")
        elif agreement.effective_until_source is UntilSource.YEAR:
            basis = gettext("only the year in the table: the anniversary of the conclusion date")
        elif agreement.approximate:
            basis = gettext("only the month in the table: its first day")
        else:
            return ""
        if agreement.approximate and agreement.concluded_precision is not Precision.DAY:
            basis += gettext("; the conclusion day is not known")
        return basis

    def country_note(self, agreement: AgreementView) -> str:
        """Return the code for after the country as written: "(AZ)", "(not recognised)"."""
        if agreement.country_code is None or agreement.country_match is CountryMatch.UNKNOWN:
            return self.words.gettext("(not recognised)")
        if agreement.country_match is CountryMatch.APPROXIMATE:
            text = self.words.gettext("(%(code)s, matched approximately)")
            return text % {"code": agreement.country_code}
        return f"({agreement.country_code})"

    def country_name(self, code: str | None, as_written: str = "") -> str:
        """Return the country of `code` in the reader's language ("Gürcistan" for GE);
        `as_written` when the code is unknown to the locale data; "Not recognised"
        for no code."""
        if code is None:
            return self.words.gettext("Not recognised")
        return _territories(self.locale).get(code.upper(), as_written or code)

    def data_warning(self, line: str) -> str:
        """Return a warning the import stored with an agreement, in the reader's language."""
        return data_warnings.translated(line, self.words)

    def change_action(self, action: str) -> str:
        """Return what happened to an agreement, as the weekly changes name it."""
        gettext = self.words.gettext
        actions = {
            "imported": gettext("imported"),
            "updated": gettext("updated"),
            "superseded": gettext("superseded"),
            "current_again": gettext("the current agreement again"),
            "renewed": gettext("renewed"),
            "retired": gettext("retired"),
            "reinstated": gettext("reinstated"),
            "snoozed": gettext("snoozed"),
            "amended": gettext("amended"),
        }
        return actions.get(action, action)

    def status_label(self, status: Status, largest_window: int) -> str:
        """Return a status as the weekly counts name it."""
        gettext = self.words.gettext
        days = {"days": largest_window}
        if status is Status.ACTIVE:
            return gettext("In force beyond %(days)d days") % days
        if status is Status.EXPIRING:
            return gettext("Expiring within %(days)d days") % days
        labels = {
            Status.EXPIRED: gettext("Expired"),
            Status.SUPERSEDED: gettext("Superseded"),
            Status.RETIRED: gettext("Retired"),
        }
        return labels.get(status, str(status).capitalize())


#: The English wording: the message ids as they are.
ENGLISH = Wording()


def days_in_words(days_left: int) -> str:
    """Return "in 30 days", "in 1 day", "today", "expired 1 day ago", in English."""
    return ENGLISH.days_in_words(days_left)


def expiry_in_words(days_left: int) -> str:
    """Return "expires in 7 days", "expires today" or "expired 3 days ago", in English."""
    return ENGLISH.expiry(days_left)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """Return the count with its English noun: "1 agreement", "3 agreements".

    Kept for templates_dir overrides written before the catalogs; the packaged
    templates use ngettext, which knows every language's plural rules.
    """
    noun = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {noun}"
