"""Pure digest building: who gets which agreement, and one digest per recipient.

Routing follows [[coordinators]]: every coordinator whose countries and programmes
match receives the agreement; an agreement's own coordinator email replaces the
rules; reminders.default_recipient catches the rest. What matches nobody is
returned as unrouted, never dropped.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from reminder.config.schema import Coordinator
from reminder.domain.names import normalize_key
from reminder.domain.records import AgreementView
from reminder.domain.windows import NOTICE


@dataclass(frozen=True, slots=True, order=True)
class Recipient:
    """A person who receives digests, and the language their mail is written in."""

    email: str
    name: str = ""
    language: str = "en"


class DueItem(NamedTuple):
    """One agreement due for a reminder at `window` (NOTICE for the expiry notice).

    A named tuple, as AgreementView: a first run makes one per agreement due.
    """

    agreement: AgreementView
    window: int
    days_left: int

    @property
    def is_notice(self) -> bool:
        """Return True for the expiry notice."""
        return self.window == NOTICE


@dataclass(frozen=True, slots=True)
class ReminderDigest:
    """Everything one recipient is reminded of in one run, most urgent first."""

    recipient: Recipient
    as_of: date
    items: tuple[DueItem, ...]

    @property
    def most_urgent(self) -> DueItem:
        """Return the first item: the smallest window, then the fewest days left."""
        return self.items[0]

    def by_window(self) -> list[tuple[int, list[DueItem]]]:
        """Return the items grouped by window, most urgent group first."""
        groups: dict[int, list[DueItem]] = defaultdict(list)
        for item in self.items:
            groups[item.window].append(item)
        return sorted(groups.items())


@dataclass(frozen=True)
class Router:
    """Routes agreements to recipients by the configured rules."""

    coordinators: Sequence[Coordinator]
    default_recipient: str | None
    #: The language of addresses no coordinator table names: [mail] language.
    office_language: str = "en"
    _by_email: dict[str, Recipient] = field(default_factory=dict, init=False, repr=False)
    # Coordinators by the country codes they name, and those for every country ("*"):
    # an office may configure hundreds, and a run routes tens of thousands of agreements.
    _by_country: dict[str, list[Coordinator]] = field(default_factory=dict, init=False, repr=False)
    _everywhere: list[Coordinator] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        for coordinator in self.coordinators:
            self._by_email.setdefault(coordinator.email.casefold(), self.coordinator(coordinator))
            if "*" in coordinator.countries:
                self._everywhere.append(coordinator)
                continue
            for code in dict.fromkeys(coordinator.countries):
                self._by_country.setdefault(code, []).append(coordinator)

    def recipients(self, agreement: AgreementView) -> tuple[Recipient, ...]:
        """Return who receives reminders for `agreement`; empty when unrouted.

        Returns the recipients sorted by address, without duplicates.
        """
        if agreement.coordinator_email:
            known = self._by_email.get(agreement.coordinator_email.casefold())
            return (known or self.office(agreement.coordinator_email),)
        code = agreement.country_code
        in_country = self._by_country.get(code.upper(), []) if code is not None else []
        matched = {
            self.coordinator(c)
            for c in (*self._everywhere, *in_country)
            if _matches_programme(c.programmes, agreement.programme)
        }
        if not matched and self.default_recipient:
            known = self._by_email.get(self.default_recipient.casefold())
            matched = {known or self.office(self.default_recipient)}
        return tuple(sorted(matched))

    def coordinator(self, coordinator: Coordinator) -> Recipient:
        """Return a configured coordinator as a recipient, in their language."""
        language = coordinator.language or self.office_language
        return Recipient(coordinator.email, coordinator.name, language)

    def office(self, email: str, name: str = "") -> Recipient:
        """Return an address no coordinator table names: it reads the office's language."""
        return Recipient(email, name, self.office_language)


def _matches_programme(allowed: Sequence[str], programme: str) -> bool:
    # By the key the import identifies a programme by (case, accents and punctuation
    # aside), which the list's SQL compares too (agreements.programme_key): a database's
    # lower() folds only ASCII, so "İkili Anlaşma" met itself in Python and not there.
    wanted = _programme_key(programme)
    return any(p == "*" or _programme_key(p) == wanted for p in allowed)


# A portfolio has a few programmes, and a run routes every agreement: each key once.
_programme_key = functools.lru_cache(maxsize=1024)(normalize_key)


def urgency(item: DueItem) -> tuple[int, int, str, int]:
    """Return the sort key that puts the most urgent item first.

    The expiry notice (window 0) comes first, then the smallest window, then the
    fewest days left, then the partner name.
    """
    return (item.window, item.days_left, item.agreement.partner.casefold(), item.agreement.id)


def build_digests(due: Iterable[tuple[Recipient, DueItem]], as_of: date) -> list[ReminderDigest]:
    """Group due items into one digest per recipient, items most urgent first.

    Returns the digests sorted by recipient address.
    """
    per_recipient: dict[Recipient, list[DueItem]] = defaultdict(list)
    for recipient, item in due:
        per_recipient[recipient].append(item)
    return digests_by_recipient(per_recipient, as_of)


def digests_by_recipient(
    items: Mapping[Recipient, Sequence[DueItem]], as_of: date
) -> list[ReminderDigest]:
    """Return one digest per recipient of `items` that has any, items most urgent first.

    Returns the digests sorted by recipient address.
    """
    return [
        ReminderDigest(recipient, as_of, tuple(sorted(due, key=urgency)))
        for recipient, due in sorted(items.items())
        if due
    ]
