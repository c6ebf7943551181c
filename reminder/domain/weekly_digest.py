"""Pure weekly status digest: one coordinator's whole portfolio at a glance.

Built by streaming the portfolio through a WeeklyBuilder, so a large portfolio is
counted, not held: only the agreements the digest lists are kept, and long lists are
cut to a limit with a count of the rest. The 12-month timeline and the per-country
summary are counts only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from reminder.domain.records import AgreementView, CountryMatch
from reminder.domain.reminder_digest import Recipient
from reminder.domain.windows import Status

#: At most this many agreements are listed per section; the rest are counted.
LIST_LIMIT = 50
LAPSED_LOOKBACK_DAYS = 365
#: Months the timeline of expiries covers, the digest's month first.
TIMELINE_MONTHS = 12
#: The per-country summary's row for agreements whose country was not recognised.
UNRECOGNISED_COUNTRY = "Not recognised"


def iso_week(day: date) -> str:
    """Return the ISO week of `day` as "2022-W03"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True, slots=True)
class WeeklyItem:
    """An agreement listed in the weekly digest, with its days left on the digest day."""

    agreement: AgreementView
    days_left: int

    @property
    def snoozed_until(self) -> date | None:
        """Return the day a snooze of the agreement ends, or None when it is not snoozed."""
        until = self.agreement.snoozed_until
        as_of = self.agreement.effective_until - timedelta(days=self.days_left)
        return until if until is not None and until > as_of else None


@dataclass(frozen=True, slots=True)
class Change:
    """An agreement renewed, superseded or retired since the previous digest."""

    agreement: AgreementView
    action: str  # "renewed", "superseded", "retired", ...
    at: date
    details: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    """A listed section: the first LIST_LIMIT items and how many more there were."""

    items: tuple[WeeklyItem, ...]
    more: int = 0

    @property
    def total(self) -> int:
        """Return how many agreements the section covers, listed or not."""
        return len(self.items) + self.more


@dataclass(frozen=True, slots=True)
class TimelineMonth:
    """How many active agreements end in one month of the timeline.

    `percent` is the count against the busiest month (0-100), the length of its bar;
    `in_window` says the month starts within the largest renewal window.
    """

    month: date  # its first day
    count: int
    percent: int
    in_window: bool

    def bar(self, width: int) -> int:
        """Return the bar's length in characters out of `width`; at least 1 when counted."""
        if not self.count:
            return 0
        return max(1, round(self.percent * width / 100))


@dataclass(frozen=True, slots=True)
class CountryCounts:
    """Active agreements with partners in one country, by status."""

    code: str | None  # None: the country as written was not recognised
    name: str
    expiring: int
    expired: int
    active: int

    @property
    def total(self) -> int:
        """Return how many agreements the row counts."""
        return self.expiring + self.expired + self.active

    @property
    def label(self) -> str:
        """Return the country as the summary names it: "Azerbaijan (AZ)"."""
        return self.name if self.code is None else f"{self.name} ({self.code})"


@dataclass(frozen=True)
class UndeliveredMail:
    """A message some recipient refused for good: who, and what their server replied."""

    message_id: str
    subject: str
    state: str  # failed | partial
    refused: tuple[tuple[str, str], ...]  # (address, the server's reply)


@dataclass(frozen=True)
class WeeklyDigest:
    """One recipient's weekly status digest."""

    recipient: Recipient
    as_of: date
    week: str
    largest_window: int
    counts: dict[Status, int]
    expiring_by_month: tuple[tuple[date, Section], ...]  # first day of month -> items
    lapsed: Section  # lapsed within the last 12 months and not renewed
    changes: tuple[Change, ...]
    approximate: Section
    unrecognised_countries: Section
    unrouted: Section  # only in the default recipient's digest
    retired: Section  # retired agreements that would otherwise be expiring or lapsed
    timeline: tuple[TimelineMonth, ...] = ()
    countries: tuple[CountryCounts, ...] = ()
    # The office summary: every coordinator's portfolio in one digest.
    office_wide: bool = False
    # Mail refused for good: all of it in the office's digests, a coordinator's own in
    # theirs (someone must fix the address, then run `reminder outbox retry`).
    undelivered: tuple[UndeliveredMail, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Return True when there is nothing to report but the counts."""
        return not (
            self.expiring_by_month
            or self.lapsed.total
            or self.changes
            or self.approximate.total
            or self.unrecognised_countries.total
            or self.unrouted.total
            or self.undelivered
        )

    @property
    def total(self) -> int:
        """Return how many agreements the portfolio holds."""
        return sum(self.counts.values())


@dataclass
class _Bounded:
    items: list[WeeklyItem] = field(default_factory=list)
    more: int = 0

    def add(self, item: WeeklyItem) -> None:
        if len(self.items) < LIST_LIMIT:
            self.items.append(item)
        else:
            self.more += 1

    def section(self) -> Section:
        return Section(tuple(self.items), self.more)


@dataclass
class WeeklyBuilder:
    """Accumulates one recipient's portfolio; `build` returns the digest."""

    recipient: Recipient
    as_of: date
    largest_window: int
    office_wide: bool = False
    counts: Counter[Status] = field(default_factory=Counter)
    _expiring: defaultdict[date, _Bounded] = field(default_factory=lambda: defaultdict(_Bounded))
    _lapsed: _Bounded = field(default_factory=_Bounded)
    _approximate: _Bounded = field(default_factory=_Bounded)
    _countries: _Bounded = field(default_factory=_Bounded)
    _unrouted: _Bounded = field(default_factory=_Bounded)
    _retired: _Bounded = field(default_factory=_Bounded)
    _ending: Counter[date] = field(default_factory=Counter)
    _country_counts: dict[str | None, Counter[Status]] = field(default_factory=dict)
    _country_names: dict[str | None, str] = field(default_factory=dict)

    def add(self, agreement: AgreementView, status: Status, days_left: int) -> None:
        """Count one agreement of the portfolio, listing it where the digest shows it."""
        self.counts[status] += 1
        item = WeeklyItem(agreement, days_left)
        if status is Status.EXPIRING:
            self._expiring[agreement.effective_until.replace(day=1)].add(item)
        elif status is Status.EXPIRED and -days_left <= LAPSED_LOOKBACK_DAYS:
            self._lapsed.add(item)
        elif status is Status.RETIRED and -LAPSED_LOOKBACK_DAYS <= days_left <= (
            self.largest_window
        ):
            # Listed where it would otherwise be expiring or lapsed, so nobody wonders
            # why it is missing there; retired long ago or far ahead, it is only counted.
            self._retired.add(item)
        if status in (Status.SUPERSEDED, Status.RETIRED):
            return  # data-quality warnings matter only for agreements still in play
        self._count_in_play(agreement, status, days_left)
        if agreement.approximate:
            self._approximate.add(item)
        if agreement.country_match is not CountryMatch.EXACT:
            self._countries.add(item)

    def _count_in_play(self, agreement: AgreementView, status: Status, days_left: int) -> None:
        """Count an agreement still in play for the timeline and the per-country summary."""
        if days_left >= 0 and agreement.effective_until < _months_after(
            self._first_month, TIMELINE_MONTHS
        ):
            self._ending[agreement.effective_until.replace(day=1)] += 1
        exact = agreement.country_match is CountryMatch.EXACT
        code = (
            agreement.country_code if agreement.country_match is not CountryMatch.UNKNOWN else None
        )
        self._country_counts.setdefault(code, Counter())[status] += 1
        if code is None:
            self._country_names[code] = UNRECOGNISED_COUNTRY
        elif code not in self._country_names or exact:
            # The name as written by an exactly matched row beats an approximate one.
            self._country_names[code] = agreement.country

    def add_unrouted(self, agreement: AgreementView, days_left: int) -> None:
        """List an agreement that no coordinator rule matches."""
        self._unrouted.add(WeeklyItem(agreement, days_left))

    def build(self, changes: tuple[Change, ...] = ()) -> WeeklyDigest:
        """Return the digest with everything added so far and `changes` since last week."""
        return WeeklyDigest(
            recipient=self.recipient,
            as_of=self.as_of,
            week=iso_week(self.as_of),
            largest_window=self.largest_window,
            counts={status: self.counts.get(status, 0) for status in Status},
            expiring_by_month=tuple(
                (month, bounded.section()) for month, bounded in sorted(self._expiring.items())
            ),
            lapsed=self._lapsed.section(),
            changes=changes,
            approximate=self._approximate.section(),
            unrecognised_countries=self._countries.section(),
            unrouted=self._unrouted.section(),
            retired=self._retired.section(),
            timeline=self._timeline(),
            countries=self._countries_summary(),
            office_wide=self.office_wide,
        )

    @property
    def _first_month(self) -> date:
        return self.as_of.replace(day=1)

    def _timeline(self) -> tuple[TimelineMonth, ...]:
        """Return the next TIMELINE_MONTHS months with their counts, empty months too."""
        months = [_months_after(self._first_month, index) for index in range(TIMELINE_MONTHS)]
        peak = max((self._ending[month] for month in months), default=0)
        window_end = self.as_of + timedelta(days=self.largest_window)
        return tuple(
            TimelineMonth(
                month=month,
                count=self._ending[month],
                percent=round(self._ending[month] * 100 / peak) if peak else 0,
                in_window=month <= window_end,
            )
            for month in months
        )

    def _countries_summary(self) -> tuple[CountryCounts, ...]:
        """Return a row per country, the most expiring first, unrecognised ones last."""
        rows = [
            CountryCounts(
                code=code,
                name=self._country_names[code],
                expiring=counts[Status.EXPIRING],
                expired=counts[Status.EXPIRED],
                active=counts[Status.ACTIVE],
            )
            for code, counts in self._country_counts.items()
        ]
        return tuple(
            sorted(
                rows,
                key=lambda row: (
                    row.code is None,
                    -row.expiring,
                    -row.expired,
                    -row.total,
                    row.name.casefold(),
                ),
            )
        )


def _months_after(first: date, months: int) -> date:
    """Return the first day of the month `months` after the month starting on `first`."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def previous_digest_day(as_of: date) -> date:
    """Return the day a week before `as_of`, the default start of "since last digest"."""
    return as_of - timedelta(days=7)
