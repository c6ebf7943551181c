"""Pure weekly status digest: one coordinator's whole portfolio at a glance.

Built by streaming the portfolio through a WeeklyBuilder, so a large portfolio is
counted, not held: only the agreements the digest lists are kept, and long lists are
cut to a limit with a count of the rest.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from reminder.digest import Recipient
from reminder.records import AgreementView, CountryMatch
from reminder.windows import Status

#: At most this many agreements are listed per section; the rest are counted.
LIST_LIMIT = 50
LAPSED_LOOKBACK_DAYS = 365


def iso_week(day: date) -> str:
    """Return the ISO week of `day` as "2022-W03"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True, slots=True)
class WeeklyItem:
    """An agreement listed in the weekly digest, with its days left on the digest day."""

    agreement: AgreementView
    days_left: int


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
    retired: Section

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
    counts: Counter[Status] = field(default_factory=Counter)
    _expiring: defaultdict[date, _Bounded] = field(default_factory=lambda: defaultdict(_Bounded))
    _lapsed: _Bounded = field(default_factory=_Bounded)
    _approximate: _Bounded = field(default_factory=_Bounded)
    _countries: _Bounded = field(default_factory=_Bounded)
    _unrouted: _Bounded = field(default_factory=_Bounded)
    _retired: _Bounded = field(default_factory=_Bounded)

    def add(self, agreement: AgreementView, status: Status, days_left: int) -> None:
        """Count one agreement of the portfolio, listing it where the digest shows it."""
        self.counts[status] += 1
        item = WeeklyItem(agreement, days_left)
        if status is Status.EXPIRING:
            self._expiring[agreement.effective_until.replace(day=1)].add(item)
        elif status is Status.EXPIRED and -days_left <= LAPSED_LOOKBACK_DAYS:
            self._lapsed.add(item)
        elif status is Status.RETIRED:
            self._retired.add(item)
        if status in (Status.SUPERSEDED, Status.RETIRED):
            return  # data-quality warnings matter only for agreements still in play
        if agreement.approximate:
            self._approximate.add(item)
        if agreement.country_match is not CountryMatch.EXACT:
            self._countries.add(item)

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
        )


def previous_digest_day(as_of: date) -> date:
    """Return the day a week before `as_of`, the default start of "since last digest"."""
    return as_of - timedelta(days=7)
