"""Reads for the renewal workflow: an agreement's whole record, and replaced events.

`agreement_record` is what `reminder show` prints: the agreement, the other agreements
of its partner and programme, every ledger entry with the delivery of its message, and
the history. `replaced_events` tells the calendar which events it sent are stale.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from reminder.domain.records import AgreementView, Lifecycle
from reminder.domain.renewal_rules import ReplacedEvent
from reminder.store.models import (
    Agreement,
    AgreementEvent,
    Message,
    MessageRecipient,
    Reminder,
    ReminderState,
)
from reminder.store.renewals import family_of, member_of
from reminder.store.views import get_agreement_view


@dataclass(frozen=True, slots=True)
class Delivery:
    """One envelope recipient of a message and what became of it."""

    address: str
    state: str  # pending | sent | failed
    last_error: str | None


@dataclass(frozen=True, slots=True)
class SentReminder:
    """One ledger entry of an agreement: a reminder decided, and its message if any.

    `state` is "skipped" for a window that was jumped over (never sent), else the state
    of the message that carries it: pending, sent or failed. `deliveries` lists every
    envelope recipient of that message, escalation copies included.
    """

    decided_on: date
    effective_until: date
    window: int
    recipient: str
    state: str
    message_id: str | None = None
    sent_at: datetime | None = None
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of an agreement's history."""

    at: datetime
    actor: str
    action: str
    details: str


@dataclass(frozen=True, slots=True)
class AgreementRecord:
    """Everything `reminder show` tells about one agreement.

    `predecessors` and `successors` are the other agreements of the same partner and
    programme that end before and after it (by the order that picks the current one).
    """

    agreement: AgreementView
    predecessors: tuple[AgreementView, ...]
    successors: tuple[AgreementView, ...]
    reminders: tuple[SentReminder, ...]
    history: tuple[HistoryEntry, ...]


# --- reads ---------------------------------------------------------------------------------


def replaced_events(session: Session, recipient: str, *, as_of: date) -> list[ReplacedEvent]:
    """Return the calendar events sent to `recipient` that a renewal or amendment replaced.

    Every reminder digest carries an event per agreement on its effective-until date,
    and the ledger keeps which (agreement, date) went to whom. An event is replaced
    when its agreement is superseded since, or now ends on another day. Only events on
    or after `as_of` are returned: a past one misleads nobody.
    `recipient` is the ledger's form of the address (planning.ledger_address).

    Returns the events by date, then agreement id.
    """
    rows = session.execute(
        select(
            Reminder.agreement_id, Reminder.effective_until, Agreement.partner, Agreement.programme
        )
        .join(Agreement, Agreement.id == Reminder.agreement_id)
        .where(
            Reminder.recipient == recipient,
            Reminder.state == ReminderState.QUEUED,
            Reminder.effective_until >= as_of,
            (Agreement.lifecycle == Lifecycle.SUPERSEDED)
            | (Agreement.effective_until != Reminder.effective_until),
        )
        .distinct()
        .order_by(Reminder.effective_until, Reminder.agreement_id)
    )
    return [
        ReplacedEvent(agreement_id, effective_until, partner, programme)
        for agreement_id, effective_until, partner, programme in rows
    ]


def agreement_record(session: Session, agreement_id: int) -> AgreementRecord | None:
    """Return agreement `agreement_id` with its family, its reminders and its history.

    Returns None when there is no such agreement.
    """
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        return None
    view = get_agreement_view(session, agreement_id)
    assert view is not None  # just read in this transaction
    own_order = member_of(agreement).order
    earlier: list[tuple[tuple[date, date, int], AgreementView]] = []
    later: list[tuple[tuple[date, date, int], AgreementView]] = []
    for member in family_of(session, agreement):
        if member.id == agreement.id:
            continue
        member_view = get_agreement_view(session, member.id)
        assert member_view is not None
        (earlier if member.order < own_order else later).append((member.order, member_view))
    return AgreementRecord(
        agreement=view,
        predecessors=tuple(v for _, v in sorted(earlier, key=lambda pair: pair[0])),
        successors=tuple(v for _, v in sorted(later, key=lambda pair: pair[0])),
        reminders=tuple(_reminders_of(session, agreement_id)),
        history=tuple(
            HistoryEntry(event.at, event.actor, event.action, event.details)
            for event in session.scalars(
                select(AgreementEvent)
                .where(AgreementEvent.agreement_id == agreement_id)
                .order_by(AgreementEvent.at, AgreementEvent.id)
            )
        ),
    )


def _reminders_of(session: Session, agreement_id: int) -> list[SentReminder]:
    """Return the agreement's ledger entries, oldest decision first, with their messages."""
    rows = session.execute(
        select(
            Reminder.decided_on,
            Reminder.effective_until,
            Reminder.window_days,
            Reminder.recipient,
            Reminder.state.label("reminder_state"),
            Reminder.message_pk,
            Message.message_id,
            Message.state.label("message_state"),
            Message.sent_at,
        )
        .outerjoin(Message, Message.id == Reminder.message_pk)
        .where(Reminder.agreement_id == agreement_id)
        .order_by(Reminder.decided_on, Reminder.window_days.desc(), Reminder.recipient)
    ).all()
    message_pks = sorted({row.message_pk for row in rows if row.message_pk is not None})
    deliveries: dict[int, list[Delivery]] = defaultdict(list)
    if message_pks:
        for message_pk, address, state, last_error in session.execute(
            select(
                MessageRecipient.message_pk,
                MessageRecipient.address,
                MessageRecipient.state,
                MessageRecipient.last_error,
            )
            .where(MessageRecipient.message_pk.in_(message_pks))
            .order_by(MessageRecipient.id)
        ):
            deliveries[message_pk].append(Delivery(address, str(state), last_error))
    reminders: list[SentReminder] = []
    for row in rows:
        skipped = (
            ReminderState(row.reminder_state) is ReminderState.SKIPPED or row.message_pk is None
        )
        reminders.append(
            SentReminder(
                decided_on=row.decided_on,
                effective_until=row.effective_until,
                window=row.window_days,
                recipient=row.recipient,
                state="skipped" if skipped else str(row.message_state),
                message_id=row.message_id,
                sent_at=row.sent_at,
                deliveries=tuple(deliveries.get(row.message_pk, ())) if row.message_pk else (),
            )
        )
    return reminders
