"""The renewal workflow's writes: renew, amend, retire, reinstate, snooze.

Each write checks the request by the rules in reminder.domain.renewal_rules, changes the agreement,
records an event by `actor` at `now`, and redoes supersession where the order of a
partner's agreements may have changed. The agreement is locked for the transaction
(SELECT ... FOR UPDATE on PostgreSQL and MariaDB; SQLite locks the whole file), so two
people recording the same renewal cannot both succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reminder.domain.records import CountryMatch, Lifecycle, Precision, UntilSource
from reminder.domain.renewal_rules import (
    Member,
    Refusal,
    RefusedChange,
    check_amendment,
    check_reinstate,
    check_renewal,
    check_retire,
    check_snooze,
)
from reminder.store.agreements import resupersede
from reminder.store.models import Agreement, AgreementEvent, EventAction

#: Where a renewal recorded by hand says it came from (the `source_file` column).
RENEWAL_SOURCE = "reminder renew"


@dataclass(frozen=True, slots=True)
class Renewal:
    """A renewal recorded: `renewal_id` is the new agreement, superseding `renewed_id`."""

    renewed_id: int
    renewal_id: int
    concluded: date
    effective_until: date
    superseded_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Amendment:
    """An agreement's effective-until date moved from `previous_until` to `effective_until`."""

    agreement_id: int
    previous_until: date
    effective_until: date


@dataclass(frozen=True, slots=True)
class Reinstatement:
    """A retired agreement made active again; `lifecycle` is where supersession left it."""

    agreement_id: int
    lifecycle: Lifecycle
    superseded_by_id: int | None


# --- writes --------------------------------------------------------------------------------


def renew_agreement(
    session: Session,
    agreement_id: int,
    *,
    concluded: date,
    effective_until: date,
    until_source: UntilSource,
    now: datetime,
    actor: str,
) -> Renewal:
    """Record a newly signed agreement that renews agreement `agreement_id`.

    The new agreement has the same partner, country, programme and coordinator, the
    given conclusion day and effective-until date, and supersedes the renewed one. An
    import of a table that lists it later (same partner, programme and conclusion
    date) finds it instead of adding a second one.

    Returns the Renewal. Raises RefusedChange for an unknown id or a renewal the rules of
    reminder.domain.renewal_rules.check_renewal refuse.
    """
    renewed = _locked(session, agreement_id)
    check_renewal(
        member_of(renewed),
        family_of(session, renewed),
        concluded=concluded,
        effective_until=effective_until,
    )
    renewal = Agreement(
        partner=renewed.partner,
        partner_key=renewed.partner_key,
        country=renewed.country,
        country_code=renewed.country_code,
        country_match=CountryMatch(renewed.country_match),
        programme=renewed.programme,
        programme_key=renewed.programme_key,
        notes="",
        concluded=concluded,
        concluded_precision=Precision.DAY,
        effective_until=effective_until,
        effective_until_source=until_source,
        approximate=False,
        lifecycle=Lifecycle.ACTIVE,
        coordinator_email=renewed.coordinator_email,
        source_file=f"{RENEWAL_SOURCE} {renewed.id}",
        source_line=0,
        data_warnings="",
        created_at=now,
        updated_at=now,
    )
    session.add(renewal)
    try:
        session.flush()
    except IntegrityError:
        # An import added the same agreement between our check and our insert.
        session.rollback()
        raise RefusedChange(
            f"an agreement of this partner and programme concluded on "
            f"{concluded.isoformat()} was recorded meanwhile: see `reminder agreements`",
            Refusal.RECORDED_MEANWHILE,
            concluded=concluded,
        ) from None
    _record(
        session,
        renewal.id,
        EventAction.RENEWED,
        f"renews agreement #{renewed.id} (until {renewed.effective_until.isoformat()}): "
        f"concluded {concluded.isoformat()}, until {effective_until.isoformat()}",
        now=now,
        actor=actor,
    )
    changes = resupersede(session, renewed.partner_key, renewed.programme_key, now=now, actor=actor)
    return Renewal(
        renewed.id, renewal.id, concluded, effective_until, tuple(changes.superseded_ids)
    )


def amend_agreement(
    session: Session, agreement_id: int, *, effective_until: date, now: datetime, actor: str
) -> Amendment:
    """Move agreement `agreement_id`'s effective-until date to `effective_until`.

    The ledger keys reminders by agreement and date, so the renewal windows start
    afresh for the new date. A date equal to the stored one changes nothing and
    records no event.

    Returns the Amendment. Raises RefusedChange for an unknown id or an amendment that
    reminder.domain.renewal_rules.check_amendment refuses.
    """
    agreement = _locked(session, agreement_id)
    previous = agreement.effective_until
    if effective_until == previous:
        return Amendment(agreement.id, previous, effective_until)
    check_amendment(
        member_of(agreement), family_of(session, agreement), effective_until=effective_until
    )
    agreement.effective_until = effective_until
    agreement.effective_until_source = UntilSource.GIVEN
    agreement.approximate = False
    agreement.updated_at = now
    session.flush()
    _record(
        session,
        agreement.id,
        EventAction.AMENDED,
        f"effective until {previous.isoformat()} -> {effective_until.isoformat()}",
        now=now,
        actor=actor,
    )
    resupersede(session, agreement.partner_key, agreement.programme_key, now=now, actor=actor)
    return Amendment(agreement.id, previous, effective_until)


def retire_agreement(
    session: Session, agreement_id: int, *, reason: str, now: datetime, actor: str
) -> None:
    """Mark agreement `agreement_id` as not to be renewed: it gets no more reminders.

    Imports keep the lifecycle; older agreements stay superseded by it.
    Raises RefusedChange for an unknown id, an empty reason or an agreement retired already.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise RefusedChange("--reason must say why the agreement is not renewed", Refusal.NO_REASON)
    agreement = _locked(session, agreement_id)
    check_retire(member_of(agreement))
    previous = Lifecycle(agreement.lifecycle)
    agreement.lifecycle = Lifecycle.RETIRED
    agreement.retired_reason = reason
    agreement.updated_at = now
    session.flush()
    _record(
        session,
        agreement.id,
        EventAction.RETIRED,
        f"{reason} (was {previous})",
        now=now,
        actor=actor,
    )


def reinstate_agreement(
    session: Session, agreement_id: int, *, now: datetime, actor: str
) -> Reinstatement:
    """Undo a retirement: the agreement is active again, then supersession is redone.

    When a newer agreement of the same partner and programme exists, supersession
    makes the reinstated one superseded by it.

    Returns where the agreement stands. Raises RefusedChange for an unknown id or an
    agreement that is not retired.
    """
    agreement = _locked(session, agreement_id)
    check_reinstate(member_of(agreement))
    reason = agreement.retired_reason or ""
    agreement.lifecycle = Lifecycle.ACTIVE
    agreement.retired_reason = None
    agreement.superseded_by_id = None
    agreement.updated_at = now
    session.flush()
    _record(
        session,
        agreement.id,
        EventAction.REINSTATED,
        f"retired for: {reason}" if reason else "",
        now=now,
        actor=actor,
    )
    resupersede(session, agreement.partner_key, agreement.programme_key, now=now, actor=actor)
    return Reinstatement(agreement.id, Lifecycle(agreement.lifecycle), agreement.superseded_by_id)


def snooze_agreement(
    session: Session,
    agreement_id: int,
    *,
    until: date | None,
    today: date,
    now: datetime,
    actor: str,
) -> date | None:
    """Hold back reminders for agreement `agreement_id` until `until`; None clears it.

    While snoozed only the final window and the expiry notice go out
    (reminder.domain.windows.decide). Setting the same date again, or clearing an agreement
    that is not snoozed, changes nothing and records no event.

    Returns the snooze date it had before. Raises RefusedChange for an unknown id or a
    snooze reminder.domain.renewal_rules.check_snooze refuses.
    """
    agreement = _locked(session, agreement_id)
    check_snooze(member_of(agreement), until=until, today=today)
    previous = agreement.snoozed_until
    if previous == until:
        return previous
    agreement.snoozed_until = until
    agreement.updated_at = now
    session.flush()
    if until is None:
        details = f"snooze cleared (was until {previous.isoformat()})" if previous else ""
    else:
        details = f"until {until.isoformat()}"
    _record(session, agreement.id, EventAction.SNOOZED, details, now=now, actor=actor)
    return previous


# --- helpers -------------------------------------------------------------------------------


def _locked(session: Session, agreement_id: int) -> Agreement:
    """Return agreement `agreement_id`, locked for this transaction.

    Raises RefusedChange when there is none.
    """
    agreement = session.get(Agreement, agreement_id, with_for_update=True)
    if agreement is None:
        raise RefusedChange(
            f"no agreement #{agreement_id}: see `reminder agreements`", Refusal.UNKNOWN_AGREEMENT
        )
    return agreement


def member_of(agreement: Agreement) -> Member:
    """Return what the rules of reminder.domain.renewal_rules need to know of `agreement`."""
    return Member(
        id=agreement.id,
        concluded=agreement.concluded,
        effective_until=agreement.effective_until,
        lifecycle=Lifecycle(agreement.lifecycle),
        superseded_by_id=agreement.superseded_by_id,
    )


def family_of(session: Session, agreement: Agreement) -> list[Member]:
    """Return every agreement of the same partner and programme, `agreement` among them."""
    rows = session.execute(
        select(
            Agreement.id,
            Agreement.concluded,
            Agreement.effective_until,
            Agreement.lifecycle,
            Agreement.superseded_by_id,
        ).where(
            Agreement.partner_key == agreement.partner_key,
            Agreement.programme_key == agreement.programme_key,
        )
    )
    return [
        Member(agreement_id, concluded, until, Lifecycle(lifecycle), successor)
        for agreement_id, concluded, until, lifecycle, successor in rows
    ]


def _record(
    session: Session,
    agreement_id: int,
    action: EventAction,
    details: str,
    *,
    now: datetime,
    actor: str,
) -> None:
    session.add(
        AgreementEvent(
            agreement_id=agreement_id, at=now, actor=actor, action=str(action), details=details
        )
    )
    session.flush()
