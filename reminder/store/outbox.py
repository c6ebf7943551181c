"""The outbox: messages waiting or failed, as `reminder outbox` and `status` show them.

Reads of the ledger's messages with their recipients, and putting failed messages back
in the queue (`reminder outbox --retry`). Sending is the ledger's (see `ledger`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from reminder.store.models import Message, MessageRecipient, MessageState


@dataclass(frozen=True)
class OutboxEntry:
    """A message as `reminder outbox` shows it."""

    pk: int
    message_id: str
    kind: str
    subject: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    failing_since: datetime | None
    recipients: tuple[tuple[str, str, str | None], ...]  # (address, state, last error)


def message_counts(session: Session) -> dict[str, int]:
    """Return how many messages are in each state."""
    rows = session.execute(select(Message.state, func.count()).group_by(Message.state))
    return {str(state): count for state, count in rows}


def outbox_entries(session: Session, *, states: Sequence[MessageState]) -> list[OutboxEntry]:
    """Return the messages in `states` with their recipients, oldest first."""
    messages = session.scalars(
        select(Message).where(Message.state.in_(list(states))).order_by(Message.id)
    ).all()
    recipients: dict[int, list[tuple[str, str, str | None]]] = defaultdict(list)
    if messages:
        rows = session.scalars(
            select(MessageRecipient)
            .where(MessageRecipient.message_pk.in_([m.id for m in messages]))
            .order_by(MessageRecipient.id)
        )
        for row in rows:
            recipients[row.message_pk].append((row.address, str(row.state), row.last_error))
    return [
        OutboxEntry(
            m.id,
            m.message_id,
            m.kind,
            m.subject,
            str(m.state),
            m.attempts,
            m.created_at,
            m.next_attempt_at,
            m.last_error,
            m.failing_since,
            tuple(recipients[m.id]),
        )
        for m in messages
    ]


def requeue_failed(session: Session, *, now: datetime) -> int:
    """Put failed messages (and their failed recipients) back in the queue.

    Returns how many messages were requeued.
    """
    failed_ids = list(
        session.scalars(select(Message.id).where(Message.state == MessageState.FAILED))
    )
    if not failed_ids:
        return 0
    session.execute(
        update(MessageRecipient)
        .where(
            MessageRecipient.message_pk.in_(failed_ids),
            MessageRecipient.state == MessageState.FAILED,
        )
        .values(state=MessageState.PENDING)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Message)
        .where(Message.id.in_(failed_ids))
        .values(state=MessageState.PENDING, next_attempt_at=now, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return len(failed_ids)
