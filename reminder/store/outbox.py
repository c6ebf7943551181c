"""The outbox: messages waiting or failed, as `reminder outbox` and `status` show them.

Reads of the ledger's messages with their recipients, and making every undelivered
message due now (`reminder outbox retry`). Sending is the ledger's (see `ledger`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from reminder.store.models import REFUSED_STATES, Message, MessageRecipient, MessageState


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


def message_counts(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Return how many messages are in each state.

    With `now`, a pending message that a process holds an unexpired claim on counts
    as "sending", not "pending": that process is sending it, or died holding the
    claim, which lapses with its lease.
    """
    rows = session.execute(select(Message.state, func.count()).group_by(Message.state))
    counts = {str(state): count for state, count in rows}
    if now is not None and counts.get("pending"):
        sending = session.scalar(
            select(func.count()).where(
                Message.state == MessageState.PENDING, Message.claimed_until >= now
            )
        )
        if sending:
            counts["sending"] = int(sending)
            counts["pending"] -= int(sending)
    return counts


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


@dataclass(frozen=True)
class Requeued:
    """What `requeue` did: messages a recipient refused, put back; deferred ones, due now."""

    refused: int
    deferred: int


def requeue(session: Session, *, now: datetime) -> Requeued:
    """Make every undelivered message due now, like `postqueue -f`.

    A message refused for good (failed, or partial) goes back in the queue for its
    refused recipients only: those who got it are not sent it again. A pending message
    waiting out its backoff (deferred) is due at `now` instead. A message a process is
    sending (a live claim) is left to it.
    Returns how many of each were requeued.
    """
    refused_ids = list(session.scalars(select(Message.id).where(Message.state.in_(REFUSED_STATES))))
    if refused_ids:
        session.execute(
            update(MessageRecipient)
            .where(
                MessageRecipient.message_pk.in_(refused_ids),
                MessageRecipient.state == MessageState.FAILED,
            )
            .values(state=MessageState.PENDING)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Message)
            .where(Message.id.in_(refused_ids))
            .values(state=MessageState.PENDING, next_attempt_at=now, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
    hurried: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Message)
        .where(
            # The refused ones just requeued are due at `now` already: not counted twice.
            Message.state == MessageState.PENDING,
            Message.next_attempt_at > now,
            or_(Message.claimed_until.is_(None), Message.claimed_until < now),
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return Requeued(len(refused_ids), int(hurried.rowcount or 0))
