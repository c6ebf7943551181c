"""One reminder run: plan → compose → record → deliver, and how each run is recorded.

reminder.runs.planning decides what is due, reading the store and writing nothing; this
module composes each digest into its message, records every digest with the
decisions it carries (one transaction per batch), then hands over to
reminder.runs.delivery, which claims each message, sends it and records what the server
said. Every digest of a run is recorded before any SMTP conversation starts, so a
crash at any point leaves every decision either unrecorded (decided again next run)
or recorded with its message pending (sent next run). `write_preview` composes without
recording; reminder.runs.job records how each run ended.
This module must not talk to a transport itself: a message reaches SMTP only through
reminder.runs.delivery, once it is recorded. Imports go one way: this module uses planning,
delivery and context, and none of them imports it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

from reminder import store
from reminder.config.schema import Config
from reminder.domain.reminder_digest import ReminderDigest
from reminder.errors import StoreConflict
from reminder.mail.mime import build_message, parse_address
from reminder.runs.context import Context
from reminder.runs.delivery import MessageOutcome, deliver_pending
from reminder.runs.messages import make_message_id, write_preview_files
from reminder.runs.planning import ReminderPlan, ledger_address, plan_reminders
from reminder.runs.report import RunReport
from reminder.store import LedgerKey, PlannedMessage

log = logging.getLogger(__name__)


# --- composing messages ------------------------------------------------------------------


def compose_reminder(context: Context, digest: ReminderDigest, now: datetime) -> PlannedMessage:
    """Render one reminder digest into the message the ledger will hold.

    Returns the PlannedMessage with its ledger keys. Raises TemplateError.
    """
    config = context.config
    address = ledger_address(digest.recipient.email)
    keys = tuple(
        LedgerKey(item.agreement.id, item.agreement.effective_until, item.window, address)
        for item in digest.items
    )
    dedup_key = "reminder|" + "|".join(key.text for key in sorted(keys))
    message_id = make_message_id("reminder", dedup_key, config.mail.sender)
    cc = _escalation_cc(config, digest)
    rendered = context.renderer.reminder(digest)
    # The email package writes the bytes, with the message's policy (SMTP: CRLF ends).
    raw = build_message(
        rendered,
        sender=config.mail.sender,
        to=[digest.recipient],
        cc=cc,
        reply_to=config.mail.reply_to,
        message_id=message_id,
        date=now.astimezone(config.zone),
        attachments=context.attachments(digest),
    ).as_bytes()
    return PlannedMessage(
        kind="reminder",
        dedup_key=dedup_key,
        message_id=message_id,
        recipients=_envelope_recipients([digest.recipient.email, *cc]),
        subject=rendered.subject,
        raw=raw,
        as_of=digest.as_of,
        reminder_keys=keys,
    )


def _escalation_cc(config: Config, digest: ReminderDigest) -> tuple[str, ...]:
    """Return the escalation copies: reminders at or below escalation.at_window, notices."""
    at_window = config.escalation.at_window
    if at_window is None or not config.escalation.cc:
        return ()
    if any(item.window <= at_window for item in digest.items):
        to = ledger_address(digest.recipient.email)
        return tuple(cc for cc in config.escalation.cc if ledger_address(cc) != to)
    return ()


def _envelope_recipients(addresses: list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for address in addresses:
        bare = parse_address(address).addr_spec
        seen.setdefault(ledger_address(bare), bare)
    return tuple(seen.values())


# --- the runs ----------------------------------------------------------------------------


async def run_reminders(
    context: Context, *, as_of: date, now: datetime, dry_run: bool = False
) -> RunReport:
    """Run the reminder job for `as_of`: decide, record, deliver, and retry what is pending.

    Every digest is recorded (its message, its ledger entries and the windows its
    recipient jumped over, in one transaction with the digests batched with it) before
    the first SMTP conversation. When composing or recording fails part-way, the
    batches already recorded stay and are delivered by the next run or retry sweep.
    A dry run decides and renders but records and sends nothing. Returns the report.
    Raises TemplateError, StoreError.
    """
    report = RunReport("reminders", as_of, dry_run=dry_run)
    if dry_run:
        plan = plan_reminders(context, as_of)
        report.due, report.skipped, report.unrouted = (
            plan.due_count,
            len(plan.skipped),
            plan.unrouted,
        )
        report.planned = [
            _planned_outcome(compose_reminder(context, digest, now)) for digest in plan.digests
        ]
        return report
    fruitless = 0
    while True:
        plan = plan_reminders(context, as_of)
        report.unrouted = plan.unrouted
        recorded_before = report.recorded_messages
        try:
            _record_plan(context, plan, report, now)
        except StoreConflict:
            # Another process recorded some of the same decisions first; decide again
            # against the ledger as it now stands (what this run recorded already is
            # in it). Two runs recording batch by batch may meet more than once; two
            # conflicts in a row with nothing recorded between them mean a real problem.
            fruitless = 0 if report.recorded_messages > recorded_before else fruitless + 1
            if fruitless == 2:
                raise
            log.info("another run recorded reminders for %s first; deciding again", as_of)
            continue
        break
    for item in report.unrouted:
        log.error(
            "agreement %d (%s) is due for a reminder but matches no coordinator and "
            "reminders.default_recipient is unset",
            item.agreement.id,
            item.agreement.partner,
        )
    log.info(
        "reminder run for %s: %d due in %d digest(s), %d window(s) skipped, %d unrouted",
        as_of,
        report.due,
        report.recorded_messages,
        report.skipped,
        len(report.unrouted),
    )
    report.delivery = await deliver_pending(context, now=now)
    return report


#: A reminder run records its digests in transactions of about this many message bytes:
#: the first run over a large portfolio composes hundreds of digests of hundreds of
#: kilobytes, and holding them all until one commit would make its memory grow with
#: the backlog.
RECORD_BATCH_BYTES = 4 * 1024 * 1024


def _record_plan(context: Context, plan: ReminderPlan, report: RunReport, now: datetime) -> None:
    """Compose and record `plan`'s digests batch by batch; count them into `report`.

    Each digest goes into the same transaction as the windows its recipient skipped,
    so a crash between batches leaves every decision either recorded with its message
    or not recorded at all (decided again by the next run).
    Raises StoreConflict (the batch under way is rolled back), TemplateError.
    """
    skipped: dict[str, list[LedgerKey]] = {}
    for key in plan.skipped:
        skipped.setdefault(key.recipient, []).append(key)
    batch: list[PlannedMessage] = []
    batch_skipped: list[LedgerKey] = []
    size = 0

    def flush() -> None:
        nonlocal batch, batch_skipped, size
        if not batch and not batch_skipped:
            return
        with context.database.session() as session:
            store.record_plan(session, batch, batch_skipped, now=now, as_of=plan.as_of)
        report.due += sum(len(message.reminder_keys) for message in batch)
        report.skipped += len(batch_skipped)
        report.recorded_messages += len(batch)
        report.planned += [_planned_outcome(message) for message in batch]
        batch, batch_skipped, size = [], [], 0

    for digest in plan.digests:
        message = compose_reminder(context, digest, now)
        batch.append(message)
        batch_skipped += skipped.pop(ledger_address(digest.recipient.email), [])
        size += len(message.raw)
        if size >= RECORD_BATCH_BYTES:
            flush()
    # Skipped windows always belong to a recipient with a digest; kept for safety.
    batch_skipped += [key for keys in skipped.values() for key in keys]
    flush()


def _planned_outcome(message: PlannedMessage) -> MessageOutcome:
    return MessageOutcome(message.message_id, message.recipients, message.subject, "planned")


# --- previews (nothing recorded) ---------------------------------------------------------


def write_preview(context: Context, plan: ReminderPlan, folder: Path, now: datetime) -> list[Path]:
    """Write each digest of `plan` into `folder` as .eml and .html; record nothing.

    Returns the files written.
    """
    written: list[Path] = []
    for digest in plan.digests:
        stem = f"reminder-{plan.as_of.isoformat()}-{ledger_address(digest.recipient.email)}"
        written += write_preview_files(folder, stem, compose_reminder(context, digest, now))
    return written
