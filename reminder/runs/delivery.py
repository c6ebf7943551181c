"""Delivering what is recorded: claim each pending message, send it, record the outcome.

`deliver_pending` is the one pass over the outbox shared by the reminder run, the
weekly run and the service's retry sweep: each message is claimed (for `claim_lease`)
before its SMTP conversation and its outcome recorded after it, so two processes never
send it at once and a crash loses nothing (a connection lost after the server took
the data can still mean one duplicate, with the same Message-ID). It returns a
`DeliveryReport` of `MessageOutcome`s. This module sends only what the ledger already
holds: it must not decide, compose or record new messages (reminder.runs.planning decides,
reminder.runs.reminder_run composes and records, and imports this module).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reminder import store
from reminder.config.schema import SmtpConfig
from reminder.mail.mime import parse_address
from reminder.mail.transport import Envelope, Transport
from reminder.runs.context import Context
from reminder.store import ClaimedMessage

log = logging.getLogger(__name__)

#: What a claim lasts beyond the longest a send may take (connect + transaction, each
#: bounded by smtp.timeout_seconds): room for recording the outcome on a busy database.
CLAIM_LEASE_MARGIN = timedelta(seconds=60)


@dataclass
class MessageOutcome:
    """One message's fate in a run, for the report."""

    message_id: str
    recipients: tuple[str, ...]
    subject: str
    status: str  # pending | sent | failed | partial
    error: str | None = None


@dataclass
class DeliveryReport:
    """What a delivery pass did, and where the outbox stands after it.

    `failed` messages were refused for good by every recipient, `partly_failed` ones by
    some; `sending` ones another process holds a claim on (it is sending them, or died
    holding the claim, which lapses after the lease).
    """

    sent: int = 0
    pending: int = 0
    failed: int = 0
    partly_failed: int = 0
    sending: int = 0
    messages: list[MessageOutcome] = field(default_factory=list)


def claim_lease(smtp: SmtpConfig) -> timedelta:
    """Return how long a claim on a message holds: longer than any one send can take.

    A process that dies while sending leaves its claim behind; any process may claim
    the message again once the lease has run out (claimed_until < its `now`).
    """
    return timedelta(seconds=smtp.timeout_seconds * 2) + CLAIM_LEASE_MARGIN


async def deliver_pending(context: Context, *, now: datetime) -> DeliveryReport:
    """Send every pending message whose time has come, one connection for all.

    Each message is claimed before its SMTP conversation, so two processes never send
    the same message at once; a claim left by a process that died expires after a lease.
    `now` is when the pass starts; each claim and each outcome is timed `now` plus the
    time the pass has taken so far, so a lease runs from its claim even when sending
    many messages takes longer than the lease.
    Returns what became of each message tried, and how many are still pending.
    """
    report = DeliveryReport()
    database = context.database
    lease = claim_lease(context.config.smtp)
    started = time.monotonic()

    def current() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    sender = parse_address(context.config.mail.sender).addr_spec
    with database.session(read_only=True) as session:
        ready = iter(store.ready_message_ids(session, now=now))
    transport: Transport | None = None
    sent: tuple[ClaimedMessage, store.Attempt] | None = None
    try:
        while True:
            stopping = context.stop_requested()
            # One transaction records what the server said to the last message and
            # claims the next: a commit (an fsync on SQLite) per message, not two.
            try:
                with database.session() as session:
                    if sent is not None:
                        status = store.record_attempt(session, *sent, now=current())
                    claimed = (
                        None
                        if stopping
                        else store.claim_next_message(session, ready, now=current(), lease=lease)
                    )
            except Exception:
                if sent is not None:
                    # The claim failed and took the record of the message just sent
                    # with it (a deadlock, a dropped connection): record that alone,
                    # or it would be sent again once its claim lapses.
                    with database.session() as session:
                        store.record_attempt(session, *sent, now=current())
                raise
            if sent is not None:
                _report_outcome(report, sent[0], status)
                sent = None
            if claimed is None:
                if stopping:
                    log.info("stopping: the messages not yet sent stay pending for the next run")
                break
            if transport is None:
                transport = context.open_transport()
            result = await transport.send(
                claimed.raw,
                Envelope(sender, claimed.recipients),
                claimed.message_id,
            )
            sent = (
                claimed,
                store.Attempt(
                    accepted=frozenset(result.accepted),
                    refused={
                        address: (f"{r.code} {r.message}", r.permanent)
                        for address, r in result.refused.items()
                    },
                    error=None
                    if result.error is None
                    else (str(result.error), result.error.permanent),
                ),
            )
    finally:
        if transport is not None:
            await transport.close()
    with database.session(read_only=True) as session:
        counts = store.message_counts(session, now=current())
    report.sent = sum(1 for m in report.messages if m.status == "sent")
    report.pending, report.failed = counts.get("pending", 0), counts.get("failed", 0)
    report.partly_failed, report.sending = counts.get("partial", 0), counts.get("sending", 0)
    return report


def _report_outcome(
    report: DeliveryReport, claimed: ClaimedMessage, status: store.AttemptOutcome
) -> None:
    report.messages.append(
        MessageOutcome(
            claimed.message_id, claimed.recipients, claimed.subject, status.state, status.last_error
        )
    )
    log.info(
        "message %s (%s) to %s: %s%s",
        claimed.message_id,
        claimed.dedup_key[:120],
        ", ".join(claimed.recipients),
        status.state,
        f" ({status.last_error})" if status.last_error else "",
    )
