"""The weekly status digest run: one digest per coordinator per ISO week, recorded.

Like the reminder run, each digest is written to the ledger before it is sent; its
key ("weekly|address|2022-W03") makes a second digest in the same week impossible.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

from reminder import store
from reminder.domain.dates import days_left
from reminder.domain.reminder_digest import Recipient
from reminder.domain.weekly_digest import (
    Change,
    UndeliveredMail,
    WeeklyBuilder,
    WeeklyDigest,
    iso_week,
    previous_digest_day,
)
from reminder.domain.windows import Status, status_of
from reminder.errors import StoreConflict
from reminder.mail.mime import build_message, parse_address
from reminder.runs.context import Context
from reminder.runs.delivery import MessageOutcome, deliver_pending
from reminder.runs.messages import make_message_id, write_preview_files
from reminder.runs.planning import ledger_address
from reminder.runs.report import RunReport
from reminder.store import OutboxEntry, PlannedMessage
from reminder.store.models import REFUSED_STATES

log = logging.getLogger(__name__)


def weekly_recipients(context: Context, table_coordinators: Iterable[str] = ()) -> list[Recipient]:
    """Return everyone who gets a weekly digest: each configured coordinator, the default
    recipient, and each coordinator address of `table_coordinators` (the addresses the
    imported tables name, which get reminders whether or not the config lists them)."""
    seen: dict[str, Recipient] = {}
    router = context.router
    for coordinator in context.config.coordinators:
        seen.setdefault(ledger_address(coordinator.email), router.coordinator(coordinator))
    default = context.config.reminders.default_recipient
    if default:
        seen.setdefault(ledger_address(default), router.office(default))
    for address in table_coordinators:
        seen.setdefault(ledger_address(address), router.office(address))
    return sorted(seen.values())


def office_recipients(context: Context) -> list[Recipient]:
    """Return who gets the office summary ([digest] office_summary_to), without duplicates."""
    seen: dict[str, Recipient] = {}
    router = context.router
    for text in context.config.digest.office_summary_to:
        address = parse_address(text)
        seen.setdefault(
            ledger_address(address.addr_spec),
            router.office(address.addr_spec, address.display_name),
        )
    return sorted(seen.values())


def plan_weekly(context: Context, as_of: date) -> list[WeeklyDigest]:
    """Build every recipient's weekly digest for `as_of`, reading the store once.

    The portfolio is streamed: each agreement is routed and counted, never all held.
    Agreements that match nobody are listed in every digest, so someone sees them.
    Each office_summary_to address also gets the office summary: every agreement and
    every change, whoever coordinates it.
    Returns the digests, empty ones included (the caller applies send_when_empty).
    """
    windows = context.config.reminders.windows
    router = context.router
    with context.database.session(read_only=True) as session:
        table_coordinators = store.table_coordinator_emails(session)
    builders = {
        ledger_address(r.email): WeeklyBuilder(r, as_of, max(windows))
        for r in weekly_recipients(context, table_coordinators)
    }
    office = [
        WeeklyBuilder(r, as_of, max(windows), office_wide=True) for r in office_recipients(context)
    ]
    since = datetime.combine(previous_digest_day(as_of), time(), tzinfo=context.config.zone)
    changes: dict[str, list[Change]] = {address: [] for address in builders}
    all_changes: list[Change] = []
    with context.database.session(read_only=True) as session:
        for agreement in store.iter_agreement_views(session):
            status = status_of(agreement, as_of, windows)
            left = days_left(agreement.effective_until, as_of)
            recipients = router.recipients(agreement)
            # One coordinator under two rules is one address: count the agreement once.
            for address in _addresses(recipients):
                builder = builders.get(address)
                if builder is not None:
                    builder.add(agreement, status, left)
            for builder in office:
                builder.add(agreement, status, left)
            if not recipients and status not in (Status.SUPERSEDED, Status.RETIRED):
                for builder in [*builders.values(), *office]:
                    builder.add_unrouted(agreement, left)
        for event in store.changes_since(session, since, until=_end_of(as_of, context)):
            at = event.at.astimezone(context.config.zone).date()
            change = Change(event.agreement, event.action, at, event.details)
            for address in _addresses(router.recipients(event.agreement)):
                changes.setdefault(address, []).append(change)
            all_changes.append(change)
        refused = store.outbox_entries(session, states=list(REFUSED_STATES))
    undelivered = _undelivered_mail(refused)
    default = context.config.reminders.default_recipient
    office_addresses = {ledger_address(default)} if default else set()
    digests = [
        builder.build(tuple(changes.get(address, ()))) for address, builder in builders.items()
    ] + [builder.build(tuple(all_changes)) for builder in office]
    return [
        replace(digest, undelivered=_undelivered_for(digest, undelivered, office_addresses))
        for digest in digests
    ]


def _undelivered_mail(
    entries: Iterable[OutboxEntry],
) -> list[tuple[frozenset[str], UndeliveredMail]]:
    """Return each message refused for good, with the ledger addresses it was for."""
    return [
        (
            frozenset(ledger_address(address) for address, _, _ in entry.recipients),
            UndeliveredMail(
                entry.message_id,
                entry.subject,
                entry.state,
                tuple(
                    (address, error or "refused")
                    for address, state, error in entry.recipients
                    if state == "failed"
                ),
            ),
        )
        for entry in entries
    ]


def _undelivered_for(
    digest: WeeklyDigest,
    undelivered: list[tuple[frozenset[str], UndeliveredMail]],
    office_addresses: set[str],
) -> tuple[UndeliveredMail, ...]:
    """Return the refused mail `digest` names: all of it for the office (the summary and
    the default recipient), a coordinator's own mail for a coordinator."""
    address = ledger_address(digest.recipient.email)
    everything = digest.office_wide or address in office_addresses
    return tuple(mail for meant_for, mail in undelivered if everything or address in meant_for)


def _addresses(recipients: Iterable[Recipient]) -> list[str]:
    """Return the recipients' ledger addresses, each once, in order."""
    return list(dict.fromkeys(ledger_address(recipient.email) for recipient in recipients))


def _end_of(day: date, context: Context) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=context.config.zone)


def weekly_kind(digest: WeeklyDigest) -> str:
    """Return the ledger's kind of message for `digest`: "office" or "weekly"."""
    return "office" if digest.office_wide else "weekly"


def compose_weekly(context: Context, digest: WeeklyDigest, now: datetime) -> PlannedMessage:
    """Render one weekly digest into the message the ledger will hold.

    Raises TemplateError.
    """
    config = context.config
    kind = weekly_kind(digest)
    dedup_key = f"{kind}|{ledger_address(digest.recipient.email)}|{iso_week(digest.as_of)}"
    message_id = make_message_id(kind, dedup_key, config.mail.sender)
    rendered = context.renderer.weekly(digest)
    # The email package writes the bytes, with the message's policy (SMTP: CRLF ends).
    raw = build_message(
        rendered,
        sender=config.mail.sender,
        to=[digest.recipient],
        reply_to=config.mail.reply_to,
        message_id=message_id,
        date=now.astimezone(config.zone),
    ).as_bytes()
    return PlannedMessage(
        kind=kind,
        dedup_key=dedup_key,
        message_id=message_id,
        recipients=(digest.recipient.email,),
        subject=rendered.subject,
        raw=raw,
        as_of=digest.as_of,
    )


async def run_weekly(
    context: Context, *, as_of: date, now: datetime, dry_run: bool = False
) -> RunReport:
    """Run the weekly digest job: at most one digest per recipient per ISO week.

    Digests with nothing to report are skipped unless digest.send_when_empty. A dry run
    renders but records and sends nothing. Returns the report.
    """
    report = RunReport("digest", as_of, dry_run=dry_run)
    digests = [
        d
        for d in plan_weekly(context, as_of)
        if context.config.digest.send_when_empty or not d.is_empty
    ]
    composed = [compose_weekly(context, digest, now) for digest in digests]
    for attempt in range(2):
        with context.database.session(read_only=True) as session:
            already = store.existing_dedup_keys(session, [p.dedup_key for p in composed])
        planned = [p for p in composed if p.dedup_key not in already]
        report.due = len(planned)
        report.planned = [
            MessageOutcome(p.message_id, p.recipients, p.subject, "planned") for p in planned
        ]
        if dry_run:
            return report
        try:
            with context.database.session() as session:
                store.record_plan(session, planned, (), now=now)
        except StoreConflict:
            # Another process recorded some of this week's digests at the same moment:
            # theirs stand, and the ones it did not plan are recorded on the next pass.
            if attempt:
                raise
            log.info(
                "another run recorded weekly digests for %s first; checking again",
                iso_week(as_of),
            )
            continue
        report.recorded_messages = len(planned)
        break
    log.info(
        "weekly digest run for %s: %d digest(s) recorded, %d already sent this week",
        iso_week(as_of),
        report.recorded_messages,
        len(already),
    )
    report.delivery = await deliver_pending(context, now=now)
    return report


def write_weekly_preview(
    context: Context, digests: list[WeeklyDigest], folder: Path, now: datetime
) -> list[Path]:
    """Write each weekly digest into `folder` as .eml and .html; record nothing.

    Returns the files written.
    """
    written: list[Path] = []
    for digest in digests:
        stem = f"{weekly_kind(digest)}-{digest.week}-{ledger_address(digest.recipient.email)}"
        written += write_preview_files(folder, stem, compose_weekly(context, digest, now))
    return written
