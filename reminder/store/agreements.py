"""Queries and writes on the database; every function takes the caller's Session.

The agreement part: working out which agreement of a partner in a programme is the
current one (supersession), listing agreements and their history. Importing rows is in
`importing`, which redoes supersession with the rules here. Time is passed in (`now`),
never read from the clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session

from reminder.domain.records import Lifecycle
from reminder.store.driver_writes import insert_rows, update_by_id
from reminder.store.models import Agreement, AgreementEvent, EventAction

# Rows fetched at a time while streaming agreements.
STREAM_BATCH_ROWS = 1000

_EVENT_COLUMNS = ("agreement_id", "at", "actor", "action", "details")

#: What identifies an agreement across imports: partner key, programme key, conclusion.
Identity = tuple[str, str, date]
_Group = tuple[str, str]


@dataclass(frozen=True, slots=True)
class SupersessionChanges:
    """Agreements whose lifecycle a supersession pass changed, by id."""

    superseded_ids: tuple[int, ...] = ()
    current_again_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Member:
    """What supersession needs to know of one agreement of a partner and programme."""

    id: int
    effective_until: date
    concluded: date
    lifecycle: Lifecycle
    superseded_by_id: int | None


@dataclass(frozen=True, slots=True)
class _Change:
    """A new supersession state for one agreement."""

    agreement_id: int
    previous_lifecycle: Lifecycle
    lifecycle: Lifecycle
    superseded_by_id: int | None
    details: str = ""

    @property
    def newly_superseded(self) -> bool:
        """Return whether an active agreement became superseded."""
        return (
            self.previous_lifecycle is Lifecycle.ACTIVE and self.lifecycle is Lifecycle.SUPERSEDED
        )

    @property
    def current_again(self) -> bool:
        """Return whether a superseded agreement became the current one again."""
        return (
            self.previous_lifecycle is Lifecycle.SUPERSEDED and self.lifecycle is Lifecycle.ACTIVE
        )

    @property
    def action(self) -> EventAction | None:
        """Return the event this change is worth; None for fixing a stale pointer."""
        if self.lifecycle is Lifecycle.SUPERSEDED:
            return EventAction.SUPERSEDED
        return EventAction.CURRENT_AGAIN if self.current_again else None


def resupersede(
    session: Session, partner_key: str, programme_key: str, *, now: datetime, actor: str
) -> SupersessionChanges:
    """Make the agreement of this partner and programme that ends last the current one.

    The current agreement is the one with the latest effective_until, ties broken by
    the latest conclusion date, then the highest id. It becomes active; the others
    become superseded, pointing at it. Retired agreements keep their lifecycle but take
    part in the ordering: when the newest agreement was retired, the older ones stay
    superseded by it instead of coming back to life. Each change gets an event by
    `actor` at `now`; the Agreement objects in `session` are updated.

    Returns the ids whose lifecycle changed. Raises ValueError if `now` is naive.
    """
    require_aware(now)
    agreements = {
        agreement.id: agreement
        for agreement in session.scalars(
            select(Agreement).where(
                Agreement.partner_key == partner_key, Agreement.programme_key == programme_key
            )
        )
    }
    changes = _plan_supersession([_member(agreement) for agreement in agreements.values()])
    for change in changes:
        agreement = agreements[change.agreement_id]
        agreement.lifecycle = change.lifecycle
        agreement.superseded_by_id = change.superseded_by_id
        agreement.updated_at = now
    session.flush()
    record_events(session, change_events(changes), now=now, actor=actor)
    return SupersessionChanges(
        superseded_ids=tuple(change.agreement_id for change in changes if change.newly_superseded),
        current_again_ids=tuple(change.agreement_id for change in changes if change.current_again),
    )


def iter_agreements(
    session: Session,
    *,
    lifecycles: Collection[Lifecycle] | None = None,
    until_from: date | None = None,
    until_to: date | None = None,
) -> Iterator[Agreement]:
    """Yield agreements ordered by effective_until then id, streamed in batches.

    `lifecycles` keeps only those lifecycles; `until_from` and `until_to` bound
    effective_until, both inclusive. Do not run other statements on `session` while
    iterating: MariaDB/MySQL streams over the connection and cannot interleave them
    (collect into a list first if you must).
    """
    statement = (
        select(Agreement)
        .where(*agreement_filters(lifecycles, until_from, until_to))
        .order_by(Agreement.effective_until, Agreement.id)
    )
    yield from session.scalars(statement.execution_options(yield_per=STREAM_BATCH_ROWS))


def agreement_filters(
    lifecycles: Collection[Lifecycle] | None, until_from: date | None, until_to: date | None
) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions for a lifecycle set and an inclusive end-date range."""
    conditions: list[ColumnElement[bool]] = []
    if lifecycles is not None:
        conditions.append(Agreement.lifecycle.in_(list(lifecycles)))
    if until_from is not None:
        conditions.append(Agreement.effective_until >= until_from)
    if until_to is not None:
        conditions.append(Agreement.effective_until <= until_to)
    return conditions


def get_agreement(session: Session, agreement_id: int) -> Agreement | None:
    """Return the agreement with `agreement_id`, or None if there is none."""
    return session.get(Agreement, agreement_id)


def agreement_history(session: Session, agreement_id: int) -> list[AgreementEvent]:
    """Return the events of the agreement with `agreement_id`, oldest first."""
    return list(
        session.scalars(
            select(AgreementEvent)
            .where(AgreementEvent.agreement_id == agreement_id)
            .order_by(AgreementEvent.at, AgreementEvent.id)
        )
    )


def count_agreements(session: Session) -> int:
    """Return how many agreements are stored, whatever their lifecycle."""
    return session.scalar(select(func.count()).select_from(Agreement)) or 0


def load_members(session: Session, partner_keys: Sequence[str]) -> dict[Identity, _Member]:
    """Return the supersession state of every agreement of `partner_keys`, by identity."""
    result = session.execute(
        select(
            Agreement.id,
            Agreement.partner_key,
            Agreement.programme_key,
            Agreement.concluded,
            Agreement.effective_until,
            Agreement.lifecycle,
            Agreement.superseded_by_id,
        ).where(partner_key_in(partner_keys))
    )
    return {
        (partner_key, programme_key, concluded): _Member(
            id=agreement_id,
            effective_until=effective_until,
            concluded=concluded,
            lifecycle=lifecycle,
            superseded_by_id=superseded_by_id,
        )
        for (
            agreement_id,
            partner_key,
            programme_key,
            concluded,
            effective_until,
            lifecycle,
            superseded_by_id,
        ) in result
    }


def partner_key_in(partner_keys: Sequence[str]) -> ColumnElement[bool]:
    """Return `partner_key IN (...)` with the keys written into the statement.

    As bound parameters, a thousand keys make PostgreSQL reuse a generic plan after a
    few executions, one that compares every row with every key; written in (escaped by
    SQLAlchemy for the dialect), each statement is planned with its own values.
    """
    return Agreement.partner_key.in_(
        bindparam("partner_keys", list(partner_keys), expanding=True, literal_execute=True)
    )


def supersede(
    session: Session,
    members: Mapping[Identity, _Member],
    touched: Collection[_Group],
    *,
    now: datetime,
) -> list[_Change]:
    """Redo supersession in the `touched` groups of `members` (rule: resupersede).

    The writes are bulk statements: Agreement objects loaded in `session` are not
    refreshed by them. Returns the changes written, whose events are not recorded yet.
    """
    groups: dict[_Group, list[_Member]] = defaultdict(list)
    for (partner_key, programme_key, _), member in members.items():
        if (partner_key, programme_key) in touched:
            groups[partner_key, programme_key].append(member)
    changes = [change for group in groups.values() for change in _plan_supersession(group)]
    update_by_id(
        session,
        Agreement,
        ("lifecycle", "superseded_by_id", "updated_at"),
        [
            (change.lifecycle, change.superseded_by_id, now, change.agreement_id)
            for change in changes
        ],
    )
    return changes


def _plan_supersession(members: Sequence[_Member]) -> list[_Change]:
    """Return the supersession changes in one partner and programme (rule: resupersede).

    An active agreement with a stale successor pointer is fixed; a superseded one whose
    successor changed is pointed at the new one.
    """
    if not members:
        return []
    current = max(members, key=lambda member: (member.effective_until, member.concluded, member.id))
    changes: list[_Change] = []
    for member in members:
        if member.lifecycle is Lifecycle.RETIRED:
            continue
        if member is current:
            if member.lifecycle is not Lifecycle.ACTIVE or member.superseded_by_id is not None:
                changes.append(
                    _Change(
                        member.id,
                        member.lifecycle,
                        Lifecycle.ACTIVE,
                        None,
                        "the current agreement again",
                    )
                )
            continue
        if member.lifecycle is Lifecycle.SUPERSEDED and member.superseded_by_id == current.id:
            continue
        changes.append(
            _Change(
                member.id,
                member.lifecycle,
                Lifecycle.SUPERSEDED,
                current.id,
                f"superseded by agreement #{current.id} "
                f"(until {current.effective_until.isoformat()})",
            )
        )
    return changes


def change_events(changes: Sequence[_Change]) -> list[tuple[int, EventAction, str]]:
    """Return (agreement id, action, details) for the changes that are worth an event."""
    return [
        (change.agreement_id, change.action, change.details)
        for change in changes
        if change.action is not None
    ]


def record_events(
    session: Session,
    events: Sequence[tuple[int, EventAction, str]],
    *,
    now: datetime,
    actor: str,
) -> None:
    """Insert (agreement id, action, details) events by `actor` at `now` in one batch."""
    insert_rows(
        session,
        AgreementEvent.__table__,
        _EVENT_COLUMNS,
        [
            (agreement_id, now, actor, str(action), details)
            for agreement_id, action, details in events
        ],
    )


def _member(agreement: Agreement) -> _Member:
    """Return the supersession state of `agreement`."""
    return _Member(
        id=agreement.id,
        effective_until=agreement.effective_until,
        concluded=agreement.concluded,
        lifecycle=agreement.lifecycle,
        superseded_by_id=agreement.superseded_by_id,
    )


def require_aware(now: datetime) -> None:
    """Raise ValueError if `now` has no time zone."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now.isoformat()} refused: give a time zone")
