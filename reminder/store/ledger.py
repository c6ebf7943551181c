"""The ledger: reminders decided, the messages that carry them, and their delivery.

Claim before send: every decision and its message are written in one transaction
before the message's SMTP conversation; a message is claimed with a conditional UPDATE before
it is sent, and marked sent only after the server accepted it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import CursorResult, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reminder.errors import StoreConflict, StoreError
from reminder.store.models import (
    Message,
    MessageRecipient,
    MessageState,
    Reminder,
    ReminderState,
)

#: Retry delays grow from the first to the cap, doubling per attempt.
FIRST_RETRY = timedelta(minutes=5)
RETRY_CAP = timedelta(hours=6)


class LedgerKey(NamedTuple):
    """(agreement, its effective-until date, window, recipient): at most one entry each.

    A named tuple rather than a dataclass: a first run over a large portfolio makes
    one for every window it records as skipped, and a tuple is several times cheaper
    to build.
    """

    agreement_id: int
    effective_until: date
    window: int
    recipient: str

    @property
    def text(self) -> str:
        """Return the key as one string, for dedup keys and logs."""
        return (
            f"{self.agreement_id}/{self.effective_until.isoformat()}/{self.window}/{self.recipient}"
        )


@dataclass(frozen=True)
class PlannedMessage:
    """A rendered message and the ledger entries it carries, not yet recorded."""

    kind: str
    dedup_key: str
    message_id: str
    recipients: tuple[str, ...]
    subject: str
    raw: bytes
    as_of: date
    reminder_keys: tuple[LedgerKey, ...] = ()


@dataclass(frozen=True)
class ClaimedMessage:
    """A message this process holds for sending, with the recipients still to be served."""

    pk: int
    message_id: str
    dedup_key: str
    subject: str
    raw: bytes
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class AttemptOutcome:
    """The message's state after an attempt."""

    state: str
    last_error: str | None


def _hash(dedup_key: str) -> str:
    return hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()


def record_plan(
    session: Session,
    messages: Sequence[PlannedMessage],
    skipped: Sequence[LedgerKey],
    *,
    now: datetime,
    as_of: date | None = None,
) -> None:
    """Write the messages, their ledger entries and the skipped windows, all or nothing.

    `as_of` is the run's day, recorded as when the skipped windows were decided
    (default: the first message's day, else the date of `now`).

    Raises StoreConflict when another process recorded one of the same ledger keys or
    messages first (the unique constraints decide); the session is rolled back then.
    """
    # Core inserts, not ORM objects: the first run over a large portfolio records
    # tens of thousands of ledger entries, and the unit of work costs more than the
    # rows. The messages go one by one, for their ids.
    entries: list[dict[str, Any]] = []
    recipients: list[dict[str, Any]] = []
    try:
        for planned in messages:
            inserted: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                insert(Message).values(
                    kind=planned.kind,
                    dedup_key=planned.dedup_key,
                    dedup_key_hash=_hash(planned.dedup_key),
                    message_id=planned.message_id,
                    subject=planned.subject,
                    raw=planned.raw,
                    as_of=planned.as_of,
                    state=MessageState.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            message_pk = (inserted.inserted_primary_key or (None,))[0]
            if message_pk is None:  # never seen; ledger entries must point at their message
                raise StoreError("the database did not return the new message's id")
            recipients += [
                {"message_pk": message_pk, "address": address, "state": MessageState.PENDING}
                for address in planned.recipients
            ]
            entries += [
                _entry(key, ReminderState.QUEUED, planned.as_of, now, message_pk)
                for key in planned.reminder_keys
            ]
        decided_on = as_of or (messages[0].as_of if messages else now.date())
        entries += [_entry(key, ReminderState.SKIPPED, decided_on, now, None) for key in skipped]
        if recipients:
            session.execute(insert(MessageRecipient), recipients)
        if entries:
            session.execute(insert(Reminder), entries)
    except IntegrityError as error:
        session.rollback()
        raise StoreConflict("another run recorded the same reminders first") from error


def _entry(
    key: LedgerKey, state: ReminderState, as_of: date, now: datetime, message_pk: int | None
) -> dict[str, Any]:
    return {
        "agreement_id": key.agreement_id,
        "effective_until": key.effective_until,
        "window_days": key.window,
        "recipient": key.recipient,
        "state": state,
        "message_pk": message_pk,
        "decided_on": as_of,
        "created_at": now,
    }


def existing_dedup_keys(session: Session, dedup_keys: Sequence[str]) -> set[str]:
    """Return which of `dedup_keys` already have a message (weekly digests: one a week)."""
    hashes = {_hash(key): key for key in dedup_keys}
    found = session.scalars(
        select(Message.dedup_key_hash).where(Message.dedup_key_hash.in_(list(hashes)))
    )
    return {hashes[h] for h in found}


def ready_message_ids(session: Session, *, now: datetime) -> list[int]:
    """Return the pending messages whose next attempt is due and that nobody holds."""
    return list(
        session.scalars(
            select(Message.id)
            .where(
                Message.state == MessageState.PENDING,
                Message.next_attempt_at <= now,
                or_(Message.claimed_until.is_(None), Message.claimed_until < now),
            )
            .order_by(Message.id)
        )
    )


def claim_message(
    session: Session, message_pk: int, *, now: datetime, lease: timedelta
) -> ClaimedMessage | None:
    """Claim a pending message for sending until now + lease.

    The conditional UPDATE succeeds for one process only; a claim left by a process
    that died expires with its lease. Returns the message with its recipients still
    pending, or None when someone else holds it or it is no longer pending.
    """
    claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Message)
        .where(
            Message.id == message_pk,
            Message.state == MessageState.PENDING,
            or_(Message.claimed_until.is_(None), Message.claimed_until < now),
        )
        .values(claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    # Plain columns, not an ORM object: a delivery pass claims every message it sends.
    message_id, dedup_key, subject, raw = session.execute(
        select(Message.message_id, Message.dedup_key, Message.subject, Message.raw).where(
            Message.id == message_pk
        )
    ).one()
    recipients = session.scalars(
        select(MessageRecipient.address)
        .where(
            MessageRecipient.message_pk == message_pk,
            MessageRecipient.state == MessageState.PENDING,
        )
        .order_by(MessageRecipient.id)
    ).all()
    return ClaimedMessage(message_pk, message_id, dedup_key, subject, raw, tuple(recipients))


def claim_next_message(
    session: Session, message_pks: Iterator[int], *, now: datetime, lease: timedelta
) -> ClaimedMessage | None:
    """Claim the first of `message_pks` that can be claimed (see claim_message).

    Consumes `message_pks` up to that one. Returns it, or None when none is left.
    """
    for message_pk in message_pks:
        claimed = claim_message(session, message_pk, now=now, lease=lease)
        if claimed is not None:
            return claimed
        # else another process has it, or it was settled meanwhile
    return None


@dataclass(frozen=True)
class Attempt:
    """What the server said to one attempt, in the ledger's terms.

    `refused` maps a recipient to (reply, permanent); `error`, when the message as a
    whole failed, is (reason, permanent).
    """

    accepted: frozenset[str]
    refused: dict[str, tuple[str, bool]]
    error: tuple[str, bool] | None


def record_attempt(
    session: Session, claimed: ClaimedMessage, result: Attempt, *, now: datetime
) -> AttemptOutcome:
    """Record what the server said, recipient by recipient, and release the claim.

    Accepted recipients are sent; permanently refused ones failed with the reply kept;
    the rest stay pending and the message is retried with capped exponential backoff.
    Once no recipient is pending, a message some recipient refused for good is failed
    (all refused) or partial (the others got it), never sent.
    The message's last error names every recipient refused for good, in this attempt
    or an earlier one, so a later success for the others does not hide them.
    Returns the message's new state.
    """
    message = session.get_one(Message, claimed.pk)
    rows = session.scalars(
        select(MessageRecipient)
        .where(MessageRecipient.message_pk == claimed.pk)
        .order_by(MessageRecipient.id)
    ).all()
    errors: list[str] = []
    for row in rows:
        if row.state is MessageState.FAILED:
            errors.append(f"{row.address}: {row.last_error}")
        if row.state is not MessageState.PENDING:
            continue
        refusal = result.refused.get(row.address)
        if row.address in result.accepted:
            row.state, row.last_error = MessageState.SENT, None
        elif refusal is not None:
            row.last_error, permanent = refusal
            errors.append(f"{row.address}: {row.last_error}")
            if permanent:
                row.state = MessageState.FAILED
        elif result.error is not None:
            row.last_error, permanent = result.error
            if permanent:
                row.state = MessageState.FAILED
    if result.error is not None:
        errors.insert(0, result.error[0])
    message.attempts += 1
    message.claimed_until = None
    states = {row.state for row in rows}
    if MessageState.PENDING in states:
        message.state = MessageState.PENDING
        message.next_attempt_at = now + retry_delay(message.attempts)
    elif MessageState.FAILED in states:
        # One refusal for good is enough to need someone's attention, even when the
        # others got it: the refused recipient never hears of the agreement.
        partial = MessageState.SENT in states
        message.state = MessageState.PARTIAL if partial else MessageState.FAILED
    else:
        message.state = MessageState.SENT
    if MessageState.SENT in states and message.sent_at is None:
        message.sent_at = now
    message.last_error = "; ".join(errors) or None
    if message.state is MessageState.SENT and not errors:
        message.failing_since = None
    elif errors and message.failing_since is None:
        message.failing_since = now
    return AttemptOutcome(str(message.state), message.last_error)


def retry_delay(attempts: int) -> timedelta:
    """Return how long to wait after the `attempts`-th failed attempt (capped doubling)."""
    delay: timedelta = FIRST_RETRY * (2 ** min(max(attempts - 1, 0), 16))
    return min(delay, RETRY_CAP)
