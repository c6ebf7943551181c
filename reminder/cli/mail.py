"""The mail commands: due, run-once, preview, outbox."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reminder.cli.common import load, open_db, print_json, today

if TYPE_CHECKING:
    from reminder.config.schema import Config
    from reminder.mail.transport import Transport
    from reminder.runs.context import Context
    from reminder.runs.delivery import DeliveryReport
    from reminder.runs.report import RunReport
    from reminder.store.database import Database


def build_context(config: Config, database: Database) -> Context:
    """Compose what a run needs. The SMTP password is read now, so a missing one is
    reported before anything is decided.

    Raises ConfigError, TemplateError.
    """
    from reminder.cli.renewals import calendar_attachments
    from reminder.config.credentials import resolve_secret
    from reminder.mail.configured import open_transport
    from reminder.mail.render import Renderer
    from reminder.runs.context import Context

    renderer = Renderer(config.mail.templates_dir, config.languages)
    password = None
    if config.mail.transport == "smtp":
        password = resolve_secret(config.smtp.password, "smtp")

    def transport() -> Transport:
        return open_transport(config.mail, config.smtp, password=password)

    return Context(
        config,
        database,
        renderer,
        open_transport=transport,
        attachments=calendar_attachments(config, database),
    )


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_due(args: argparse.Namespace) -> int:
    """`reminder due`: what the reminder run would send; records and sends nothing."""
    from reminder.runs.planning import iter_due_rows, plan_reminders

    config = load(args)
    as_of: date = args.as_of or today(config)
    with open_db(config) as database:
        plan = plan_reminders(build_context(config, database), as_of)
    rows = list(iter_due_rows(plan))
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        recipients = ", ".join(row["recipients"]) or "UNROUTED"  # type: ignore[arg-type]
        window = "notice" if row["window"] == 0 else f"{row['window']}d"
        print(
            f"{row['agreement_id']:>6}  {window:>6}  {row['days_left']:>5}  "
            f"{row['effective_until']}  {row['partner']}  -> {recipients}"
        )
    print(f"{len(rows)} agreement(s) due on {as_of.isoformat()}")
    return 0


def cmd_run_once(args: argparse.Namespace) -> int:
    """`reminder run-once`: one pass now: decide, record, deliver, retry what is pending."""
    # asyncio alone takes longer to import than the rest of the CLI: not for --help.
    import asyncio

    from reminder.errors import ReminderError
    from reminder.runs.job import run_job

    config = load(args)
    as_of: date = args.as_of or today(config)
    jobs: list[str] = list(dict.fromkeys(args.job or ["reminders"]))
    statuses: list[int] = []
    with open_db(config) as database:
        context = build_context(config, database)
        for index, job in enumerate(jobs):
            # Each job runs whatever the one before it returned: a pending message or an
            # unrouted agreement must not hold back the weekly digest that reports it.
            try:
                report = asyncio.run(
                    run_job(
                        context,
                        job,
                        as_of=as_of,
                        now=_now(),
                        dry_run=args.dry_run,
                        force=args.force,
                    )
                )
            except ReminderError as error:
                if index == len(jobs) - 1:
                    raise
                for problem in error.problems:
                    print(f"reminder: {job} run: {problem}", file=sys.stderr)
                statuses.append(error.exit_status)
                continue
            _print_report(config, report)
            statuses.append(report.exit_status)
    return max(statuses)


def _print_delivery(delivery: DeliveryReport) -> None:
    """Print each message a delivery pass tried, then where the outbox stands."""
    for outcome in delivery.messages:
        error = f" ({outcome.error})" if outcome.error else ""
        print(
            f"  {outcome.status:<7} {outcome.message_id} to {', '.join(outcome.recipients)}{error}"
        )
    line = (
        f"{delivery.sent} sent now, {delivery.pending} pending, {delivery.failed} failed, "
        f"{delivery.partly_failed} partly failed (a recipient refused it for good)"
    )
    if delivery.sending:
        line += (
            f", {delivery.sending} claimed by another process (being sent there, or "
            "waiting for a dead process's claim to lapse)"
        )
    print(f"outbox: {line}")


def _print_report(config: Config, report: RunReport) -> None:
    what = "reminder" if report.job == "reminders" else "weekly digest"
    if report.dry_run:
        print(f"dry run of the {what} job for {report.as_of}: nothing recorded, nothing sent")
        for planned in report.planned:
            print(
                f"  would send {planned.message_id} to {', '.join(planned.recipients)}: "
                f"{planned.subject}"
            )
    else:
        print(
            f"{what} run for {report.as_of}: {report.due} due, "
            f"{report.recorded_messages} message(s) recorded, {report.skipped} window(s) skipped"
        )
    for item in report.unrouted:
        print(
            f"  UNROUTED agreement {item.agreement.id} ({item.agreement.partner}): no coordinator "
            "matches and reminders.default_recipient is unset",
            file=sys.stderr,
        )
    delivery = report.delivery
    if not report.dry_run:
        _print_delivery(delivery)
        if config.mail.transport == "outbox" and delivery.messages:
            print(f"messages written as .eml files to {config.mail.outbox_dir}")


def cmd_preview(args: argparse.Namespace) -> int:
    """`reminder preview`: write each recipient's digest as .eml and .html; record nothing."""
    from reminder.errors import InputError
    from reminder.runs.planning import plan_reminders
    from reminder.runs.reminder_run import write_preview
    from reminder.runs.weekly_run import plan_weekly, write_weekly_preview

    folder: Path = args.out
    if str(folder) == "-":
        raise InputError("--out: preview writes a folder of .eml and .html files, not to -")
    config = load(args)
    as_of: date = args.as_of or today(config)
    with open_db(config) as database:
        context = build_context(config, database)
        try:
            if args.job == "digest":
                written = write_weekly_preview(context, plan_weekly(context, as_of), folder, _now())
            else:
                written = write_preview(context, plan_reminders(context, as_of), folder, _now())
        except OSError as error:
            raise InputError(f"{folder}: cannot write: {error.strerror or error}") from None
    for path in written:
        print(path)
    print(f"{len(written)} file(s) written to {folder}")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    """`reminder outbox`: pending, failed and partly failed messages, with each
    recipient's state and the server's reply."""
    from reminder import store
    from reminder.store.models import REFUSED_STATES, MessageState

    config = load(args)
    with open_db(config) as database, database.session(read_only=True) as session:
        entries = store.outbox_entries(session, states=[MessageState.PENDING, *REFUSED_STATES])
    if args.json:
        print_json(
            [
                {
                    "message_id": e.message_id,
                    "kind": e.kind,
                    "subject": e.subject,
                    "state": e.state,
                    "attempts": e.attempts,
                    "created_at": e.created_at.isoformat(),
                    "next_attempt_at": e.next_attempt_at.isoformat(),
                    "failing_since": e.failing_since.isoformat() if e.failing_since else None,
                    "last_error": e.last_error,
                    "recipients": [
                        {"address": a, "state": s, "last_error": err} for a, s, err in e.recipients
                    ],
                }
                for e in entries
            ]
        )
        return 0
    for e in entries:
        print(f"{e.state:<7} {e.message_id} ({e.kind}, {e.attempts} attempt(s)): {e.subject}")
        for address, state, error in e.recipients:
            print(f"    {state:<7} {address}{f': {error}' if error else ''}")
        if e.state == "pending":
            print(f"    next attempt at {e.next_attempt_at.isoformat()}")
    print(f"{len(entries)} message(s) pending, failed or partly failed")
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    """`reminder outbox retry`: make every undelivered message due now, then deliver.

    Like `postqueue -f`: what a recipient refused for good goes back in the queue for
    that recipient alone, what waits out its backoff is due now, and one delivery pass
    sends them. Exit 0 when the outbox is then empty of undelivered mail, else 1.
    """
    import asyncio

    from reminder import store
    from reminder.runs.delivery import deliver_pending

    config = load(args)
    with open_db(config) as database:
        with database.session() as session:
            requeued = store.requeue(session, now=_now())
        print(
            f"{requeued.refused} refused message(s) queued again for the refused "
            f"recipients, {requeued.deferred} deferred message(s) due now"
        )
        context = build_context(config, database)
        delivery = asyncio.run(deliver_pending(context, now=_now()))
    _print_delivery(delivery)
    undone = delivery.pending or delivery.failed or delivery.partly_failed or delivery.sending
    return 1 if undone else 0
