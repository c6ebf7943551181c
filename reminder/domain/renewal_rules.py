"""Pure rules of the renewal workflow: what a renewal, an amendment or a snooze may be.

The office records by hand what its table does not say yet: a renewal signed, an end
date moved by an amendment, a decision not to renew, a pause in the reminders. These
rules check such a request against the agreement as stored; the store applies it.
Nothing here reads the clock or the database: `today` and the agreements come in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from reminder.domain.dates import add_years
from reminder.domain.records import Lifecycle, UntilSource
from reminder.errors import InputError

#: The longest term a renewal may be given with --years; a typo beyond it is refused.
MAX_TERM_YEARS = 100


@dataclass(frozen=True, slots=True)
class Member:
    """What the rules need to know of one agreement of a partner in a programme."""

    id: int
    concluded: date
    effective_until: date
    lifecycle: Lifecycle
    superseded_by_id: int | None = None

    @property
    def order(self) -> tuple[date, date, int]:
        """Return the key by which the agreement that ends last is the current one."""
        return (self.effective_until, self.concluded, self.id)


@dataclass(frozen=True, slots=True)
class ReplacedEvent:
    """A calendar event sent earlier whose date no longer holds.

    The agreement was renewed (superseded) or amended after a digest carried its
    event for `effective_until`; a calendar that imported it should drop it.
    """

    agreement_id: int
    effective_until: date
    partner: str
    programme: str


def renewal_until(
    concluded: date, *, until: date | None, years: int | None, term_years: int
) -> tuple[date, UntilSource]:
    """Return the effective-until date of a renewal concluded on `concluded`, and its source.

    `until` is used as given; otherwise `years` (else the configured `term_years`) are
    added to the conclusion date, 29 February falling on 28 February.

    Raises InputError when both `until` and `years` are given, or `years` is out of range.
    """
    if until is not None and years is not None:
        raise InputError("give either --until or --years, not both")
    if until is not None:
        return until, UntilSource.GIVEN
    term = term_years if years is None else years
    if not 1 <= term <= MAX_TERM_YEARS:
        raise InputError(f"--years must be 1 to {MAX_TERM_YEARS}, got {term}")
    return add_years(concluded, term), UntilSource.TERM


def check_renewal(
    renewed: Member, family: Iterable[Member], *, concluded: date, effective_until: date
) -> None:
    """Check that a new agreement concluded on `concluded` can renew `renewed`.

    `family` holds every agreement of the same partner and programme, `renewed` among
    them. The renewed agreement must be the current (active) one; the renewal must be
    concluded after it, end after its conclusion and end no earlier than the agreement
    it renews (the agreement that ends last is the current one), and no agreement of
    the family may have the same conclusion date (that is the identity imports use).

    Raises InputError with one line saying what is wrong.
    """
    _require_active(renewed, "renew")
    if concluded <= renewed.concluded:
        raise InputError(
            f"the renewal must be concluded after agreement #{renewed.id} "
            f"(concluded {renewed.concluded.isoformat()}), not on {concluded.isoformat()}"
        )
    if effective_until <= concluded:
        raise InputError(
            f"the renewal would end on {effective_until.isoformat()}, "
            f"not after its conclusion on {concluded.isoformat()}"
        )
    if effective_until < renewed.effective_until:
        raise InputError(
            f"the renewal would end on {effective_until.isoformat()}, before agreement "
            f"#{renewed.id} it renews (until {renewed.effective_until.isoformat()}): "
            "give a later --until"
        )
    for member in family:
        if member.concluded == concluded:
            raise InputError(
                f"agreement #{member.id} of this partner and programme was concluded on "
                f"{concluded.isoformat()} already: `reminder show {member.id}`"
            )


def check_amendment(amended: Member, family: Iterable[Member], *, effective_until: date) -> None:
    """Check that `amended` may end on `effective_until` instead.

    Only the current (active) agreement is amended, to a day after its conclusion, and
    it must stay the one that ends last of its partner and programme (else the
    amendment would silently hand the reminders to another agreement).

    Raises InputError with one line saying what is wrong.
    """
    _require_active(amended, "amend")
    if effective_until <= amended.concluded:
        raise InputError(
            f"agreement #{amended.id} was concluded on {amended.concluded.isoformat()}: "
            f"it cannot end on {effective_until.isoformat()}"
        )
    moved = Member(
        amended.id, amended.concluded, effective_until, amended.lifecycle, amended.superseded_by_id
    )
    for member in family:
        if member.id != amended.id and member.order > moved.order:
            raise InputError(
                f"agreement #{member.id} of this partner and programme ends on "
                f"{member.effective_until.isoformat()}, after {effective_until.isoformat()}: "
                f"agreement #{amended.id} would no longer be the current one"
            )


def check_retire(agreement: Member) -> None:
    """Check that `agreement` can be retired. Raises InputError if it is retired already."""
    if agreement.lifecycle is Lifecycle.RETIRED:
        raise InputError(f"agreement #{agreement.id} is retired already")


def check_reinstate(agreement: Member) -> None:
    """Check that `agreement` can be reinstated. Raises InputError unless it is retired."""
    if agreement.lifecycle is not Lifecycle.RETIRED:
        raise InputError(
            f"agreement #{agreement.id} is {agreement.lifecycle}, not retired: nothing to reinstate"
        )


def check_snooze(agreement: Member, *, until: date | None, today: date) -> None:
    """Check that reminders for `agreement` can be held back until `until` (None: cleared).

    Raises InputError when the agreement gets no reminders anyway (superseded, retired)
    or `until` is not after `today`.
    """
    if until is None:
        return  # clearing a snooze is always fine
    _require_active(agreement, "snooze")
    if until <= today:
        raise InputError(
            f"--until {until.isoformat()} is not after today ({today.isoformat()}): "
            "nothing to snooze"
        )


def _require_active(agreement: Member, verb: str) -> None:
    if agreement.lifecycle is Lifecycle.SUPERSEDED:
        successor = agreement.superseded_by_id
        where = f"by #{successor}" if successor is not None else "by a newer agreement"
        raise InputError(
            f"agreement #{agreement.id} is superseded {where}: {verb} the current one instead"
        )
    if agreement.lifecycle is Lifecycle.RETIRED:
        raise InputError(
            f"agreement #{agreement.id} is retired: `reminder reinstate {agreement.id}` first"
        )
