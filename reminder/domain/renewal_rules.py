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
from enum import StrEnum

from reminder.domain.dates import add_years
from reminder.domain.records import Lifecycle, UntilSource
from reminder.errors import InputError

#: The longest term a renewal may be given with --years; a typo beyond it is refused.
MAX_TERM_YEARS = 100


class Refusal(StrEnum):
    """Which rule refused a change: the web page words each in the reader's language
    (the CLI prints the RefusedChange's own English line)."""

    UNTIL_AND_YEARS = "until_and_years"
    YEARS_OUT_OF_RANGE = "years_out_of_range"
    UNKNOWN_AGREEMENT = "unknown_agreement"
    SUPERSEDED = "superseded"
    RETIRED = "retired"
    RENEWAL_NOT_AFTER_CONCLUSION = "renewal_not_after_conclusion"
    RENEWAL_ENDS_BEFORE_CONCLUDED = "renewal_ends_before_concluded"
    RENEWAL_ENDS_BEFORE_RENEWED = "renewal_ends_before_renewed"
    SAME_CONCLUSION = "same_conclusion"
    RECORDED_MEANWHILE = "recorded_meanwhile"
    AMENDMENT_NOT_AFTER_CONCLUSION = "amendment_not_after_conclusion"
    NO_LONGER_CURRENT = "no_longer_current"
    NO_REASON = "no_reason"
    RETIRED_ALREADY = "retired_already"
    NOT_RETIRED = "not_retired"
    SNOOZE_NOT_AFTER_TODAY = "snooze_not_after_today"


class RefusedChange(InputError):
    """A renewal, amendment, retirement, reinstatement or snooze the rules refuse.

    The message is the CLI's line; `refusal` says which rule, and `values` the dates
    and agreement ids the message names, for a page to say it in its own words.
    """

    def __init__(self, message: str, refusal: Refusal, **values: date | int) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.values = values


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

    Raises RefusedChange when both `until` and `years` are given, or `years` is out of range.
    """
    if until is not None and years is not None:
        raise RefusedChange("give either --until or --years, not both", Refusal.UNTIL_AND_YEARS)
    if until is not None:
        return until, UntilSource.GIVEN
    term = term_years if years is None else years
    if not 1 <= term <= MAX_TERM_YEARS:
        raise RefusedChange(
            f"--years must be 1 to {MAX_TERM_YEARS}, got {term}",
            Refusal.YEARS_OUT_OF_RANGE,
            most=MAX_TERM_YEARS,
        )
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

    Raises RefusedChange with one line saying what is wrong.
    """
    _require_active(renewed, "renew")
    if concluded <= renewed.concluded:
        raise RefusedChange(
            f"the renewal must be concluded after agreement #{renewed.id} "
            f"(concluded {renewed.concluded.isoformat()}), not on {concluded.isoformat()}",
            Refusal.RENEWAL_NOT_AFTER_CONCLUSION,
            concluded=renewed.concluded,
        )
    if effective_until <= concluded:
        raise RefusedChange(
            f"the renewal would end on {effective_until.isoformat()}, "
            f"not after its conclusion on {concluded.isoformat()}",
            Refusal.RENEWAL_ENDS_BEFORE_CONCLUDED,
            until=effective_until,
            concluded=concluded,
        )
    if effective_until < renewed.effective_until:
        raise RefusedChange(
            f"the renewal would end on {effective_until.isoformat()}, before agreement "
            f"#{renewed.id} it renews (until {renewed.effective_until.isoformat()}): "
            "give a later --until",
            Refusal.RENEWAL_ENDS_BEFORE_RENEWED,
            until=effective_until,
            current=renewed.effective_until,
        )
    for member in family:
        if member.concluded == concluded:
            raise RefusedChange(
                f"agreement #{member.id} of this partner and programme was concluded on "
                f"{concluded.isoformat()} already: `reminder show {member.id}`",
                Refusal.SAME_CONCLUSION,
                id=member.id,
                concluded=concluded,
            )


def check_amendment(amended: Member, family: Iterable[Member], *, effective_until: date) -> None:
    """Check that `amended` may end on `effective_until` instead.

    Only the current (active) agreement is amended, to a day after its conclusion, and
    it must stay the one that ends last of its partner and programme (else the
    amendment would silently hand the reminders to another agreement).

    Raises RefusedChange with one line saying what is wrong.
    """
    _require_active(amended, "amend")
    if effective_until <= amended.concluded:
        raise RefusedChange(
            f"agreement #{amended.id} was concluded on {amended.concluded.isoformat()}: "
            f"it cannot end on {effective_until.isoformat()}",
            Refusal.AMENDMENT_NOT_AFTER_CONCLUSION,
            concluded=amended.concluded,
        )
    moved = Member(
        amended.id, amended.concluded, effective_until, amended.lifecycle, amended.superseded_by_id
    )
    for member in family:
        if member.id != amended.id and member.order > moved.order:
            raise RefusedChange(
                f"agreement #{member.id} of this partner and programme ends on "
                f"{member.effective_until.isoformat()}, after {effective_until.isoformat()}: "
                f"agreement #{amended.id} would no longer be the current one",
                Refusal.NO_LONGER_CURRENT,
                id=member.id,
                until=member.effective_until,
            )


def check_retire(agreement: Member) -> None:
    """Check that `agreement` can be retired. Raises RefusedChange if it is retired already."""
    if agreement.lifecycle is Lifecycle.RETIRED:
        raise RefusedChange(
            f"agreement #{agreement.id} is retired already", Refusal.RETIRED_ALREADY
        )


def check_reinstate(agreement: Member) -> None:
    """Check that `agreement` can be reinstated. Raises RefusedChange unless it is retired."""
    if agreement.lifecycle is not Lifecycle.RETIRED:
        raise RefusedChange(
            f"agreement #{agreement.id} is {agreement.lifecycle}, not retired: "
            "nothing to reinstate",
            Refusal.NOT_RETIRED,
        )


def check_snooze(agreement: Member, *, until: date | None, today: date) -> None:
    """Check that reminders for `agreement` can be held back until `until` (None: cleared).

    Raises RefusedChange when the agreement gets no reminders anyway (superseded,
    retired) or `until` is not after `today`.
    """
    if until is None:
        return  # clearing a snooze is always fine
    _require_active(agreement, "snooze")
    if until <= today:
        raise RefusedChange(
            f"--until {until.isoformat()} is not after today ({today.isoformat()}): "
            "nothing to snooze",
            Refusal.SNOOZE_NOT_AFTER_TODAY,
            today=today,
        )


def _require_active(agreement: Member, verb: str) -> None:
    if agreement.lifecycle is Lifecycle.SUPERSEDED:
        successor = agreement.superseded_by_id
        where = f"by #{successor}" if successor is not None else "by a newer agreement"
        raise RefusedChange(
            f"agreement #{agreement.id} is superseded {where}: {verb} the current one instead",
            Refusal.SUPERSEDED,
        )
    if agreement.lifecycle is Lifecycle.RETIRED:
        raise RefusedChange(
            f"agreement #{agreement.id} is retired: `reminder reinstate {agreement.id}` first",
            Refusal.RETIRED,
        )
