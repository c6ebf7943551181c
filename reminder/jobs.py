"""One reminder run: store → windows → digest → render → store → mailer → store.

Each digest and the decisions it carries are written in one transaction, and every
digest of a run is recorded before any SMTP conversation starts; delivery then claims
each message, sends it and records what the server said. A crash at any point leaves
every decision either unrecorded (decided again next run) or recorded with its message
pending (sent next run).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from reminder import store
from reminder.config import Config, SmtpConfig
from reminder.dates import days_left
from reminder.db import Database
from reminder.digest import (
    DueItem,
    Recipient,
    ReminderDigest,
    Router,
    digests_by_recipient,
    urgency,
)
from reminder.errors import StoreConflict
from reminder.mailer import Envelope, Transport
from reminder.mime import Attachment, message_bytes, parse_address
from reminder.records import AgreementView
from reminder.render import Renderer
from reminder.store import ClaimedMessage, LedgerKey, PlannedMessage
from reminder.windows import Decision, WindowRules, decide, window_horizon

log = logging.getLogger(__name__)

#: What a claim lasts beyond the longest a send may take (connect + transaction, each
#: bounded by smtp.timeout_seconds): room for recording the outcome on a busy database.
CLAIM_LEASE_MARGIN = timedelta(seconds=60)

#: Opens the configured transport; called only when there is something to send.
TransportFactory = Callable[[], Transport]
#: Adds attachments (the calendar) to a reminder digest; empty by default.
AttachmentMaker = Callable[[ReminderDigest], list[Attachment]]


@dataclass(frozen=True)
class Context:
    """What a run needs, composed once by the CLI or the service."""

    config: Config
    database: Database
    renderer: Renderer
    open_transport: TransportFactory
    attachments: AttachmentMaker = field(default=lambda digest: [])
    #: Asked before each message: a service shutting down stops sending between
    #: messages and leaves the rest pending for the next start.
    stop_requested: Callable[[], bool] = field(default=lambda: False)

    @property
    def router(self) -> Router:
        """Return the router for the configured coordinators."""
        return Router(self.config.coordinators, self.config.reminders.default_recipient)

    @property
    def rules(self) -> WindowRules:
        """Return the window rules from [reminders]."""
        r = self.config.reminders
        return WindowRules(r.windows, r.notify_expired, r.expired_lookback_days)


@dataclass
class ReminderPlan:
    """What a reminder run for `as_of` decided, before anything is recorded."""

    as_of: date
    digests: list[ReminderDigest] = field(default_factory=list)
    skipped: list[LedgerKey] = field(default_factory=list)
    unrouted: list[DueItem] = field(default_factory=list)

    @property
    def due_count(self) -> int:
        """Return how many (agreement, recipient) reminders are due."""
        return sum(len(d.items) for d in self.digests)


@dataclass
class MessageOutcome:
    """One message's fate in a run, for the report."""

    message_id: str
    recipients: tuple[str, ...]
    subject: str
    status: str  # pending | sent | failed
    error: str | None = None


@dataclass
class DeliveryReport:
    """What a delivery pass did."""

    sent: int = 0
    pending: int = 0
    failed: int = 0
    messages: list[MessageOutcome] = field(default_factory=list)


@dataclass
class RunReport:
    """What one run decided, recorded and delivered."""

    job: str
    as_of: date
    dry_run: bool = False
    due: int = 0
    skipped: int = 0
    recorded_messages: int = 0
    unrouted: list[DueItem] = field(default_factory=list)
    planned: list[MessageOutcome] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def summary(self) -> str:
        """Return the run's counts on one line, for the job_runs table and logs."""
        d = self.delivery
        return (
            f"{self.due} due, {self.recorded_messages} recorded, {self.skipped} skipped, "
            f"{len(self.unrouted)} unrouted; {d.sent} sent, {d.pending} pending, {d.failed} failed"
        )

    @property
    def exit_status(self) -> int:
        """Return 0 when everything due went out, else 1 (pending, failed, unrouted)."""
        undone = self.delivery.pending or self.delivery.failed or self.unrouted
        return 1 if undone and not self.dry_run else 0


# --- planning (read-only) ----------------------------------------------------------------


def plan_reminders(context: Context, as_of: date) -> ReminderPlan:
    """Decide which reminders are due on `as_of`, reading the store and writing nothing.

    Only active agreements whose effective-until lies within the largest window ahead
    or the notice lookback behind are read, with the ledger's entries for them in the
    same query, so the cost follows what can be due.
    Recipients are told apart by address, as the ledger keys them: a coordinator
    listed under two rules (the address in another case, the name spelled otherwise)
    gets one digest, under the first entry's name.
    """
    rules = context.rules
    ahead, behind = window_horizon(rules)
    plan = ReminderPlan(as_of)
    # Keyed by ledger address (a string hashes faster than a Recipient).
    due: dict[str, list[DueItem]] = defaultdict(list)
    recipient_of: dict[str, Recipient] = {}
    route = _RouteCache(context)
    # The rule depends only on these arguments, and a run sees many agreements ending
    # on the same day with nothing recorded yet: decide each combination once.
    decisions: dict[tuple[date, frozenset[int], date | None], tuple[Decision, int]] = {}

    def decided(
        until: date, recorded: frozenset[int], snoozed: date | None
    ) -> tuple[Decision, int]:
        key = (until, recorded, snoozed)
        found = decisions.get(key)
        if found is None:
            decision = decide(until, as_of, rules, recorded, snoozed_until=snoozed)
            found = decisions[key] = (decision, days_left(until, as_of))
        return found

    with _collector_paused(), context.database.session(read_only=True) as session:
        candidates = store.iter_reminder_candidates(
            session,
            until_from=as_of - timedelta(days=behind),
            until_to=as_of + timedelta(days=ahead),
        )
        for agreement, recorded in candidates:
            until, snoozed = agreement.effective_until, agreement.snoozed_until
            recipients = route(agreement)
            if not recipients:
                decision, left = decided(until, _NONE_RECORDED, snoozed)
                if decision.due is not None:
                    plan.unrouted.append(DueItem(agreement, decision.due, left))
                continue
            for address, recipient in recipients:
                decision, left = decided(until, recorded.get(address, _NONE_RECORDED), snoozed)
                if decision.due is None:
                    continue
                due[address].append(DueItem(agreement, decision.due, left))
                recipient_of[address] = recipient
                if decision.skipped:
                    plan.skipped += [
                        LedgerKey(agreement.id, until, window, address)
                        for window in decision.skipped
                    ]
    plan.digests = digests_by_recipient(
        {recipient_of[address]: items for address, items in due.items()}, as_of
    )
    return plan


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block; restore it afterwards.

    A run over a large portfolio builds tens of thousands of views and items that all
    live until the plan is done, and every collection of the oldest generation walks
    all of them again: a quarter of plan_reminders at 1,000,000 agreements. What the
    plan builds holds no reference cycles, so nothing waits for the collector here.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_NONE_RECORDED: frozenset[int] = frozenset()


class _RouteCache:
    """Recipients by ledger address for each routing-relevant part of an agreement.

    Routing reads only the coordinator address, the country code and the programme;
    a run routes tens of thousands of agreements over a few hundred such combinations.
    """

    def __init__(self, context: Context) -> None:
        self._router = context.router
        self._canonical: dict[str, Recipient] = {}
        for coordinator in context.config.coordinators:
            self._canonical.setdefault(
                ledger_address(coordinator.email), Recipient(coordinator.email, coordinator.name)
            )
        self._routes: dict[tuple[str | None, str | None, str], tuple[tuple[str, Recipient], ...]]
        self._routes = {}

    def __call__(self, agreement: AgreementView) -> tuple[tuple[str, Recipient], ...]:
        """Return (ledger address, recipient) pairs for `agreement`; empty when unrouted."""
        key = (agreement.coordinator_email, agreement.country_code, agreement.programme)
        found = self._routes.get(key)
        if found is None:
            by_address: dict[str, Recipient] = {}
            for recipient in self._router.recipients(agreement):
                address = ledger_address(recipient.email)
                by_address.setdefault(address, self._canonical.setdefault(address, recipient))
            found = self._routes[key] = tuple(by_address.items())
        return found


def ledger_address(email: str) -> str:
    """Return the form of an address the ledger keys on (case does not make a new person)."""
    return email.strip().lower()


# --- composing messages ----------------------------------------------------------------


def make_message_id(kind: str, dedup_key: str, sender: str) -> str:
    """Return a Message-ID derived from the ledger key, the same on every attempt."""
    digest = hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()[:32]
    domain = parse_address(sender).domain or "localhost"
    return f"<{kind}.{digest}@{domain}>"


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
    raw = message_bytes(
        rendered,
        sender=config.mail.sender,
        to=[digest.recipient],
        cc=cc,
        reply_to=config.mail.reply_to,
        message_id=message_id,
        date=now.astimezone(config.zone),
        attachments=context.attachments(digest),
    )
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
        counts = store.message_counts(session)
    report.sent = sum(1 for m in report.messages if m.status == "sent")
    report.pending, report.failed = counts.get("pending", 0), counts.get("failed", 0)
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


def iter_due_rows(plan: ReminderPlan) -> Iterator[dict[str, object]]:
    """Yield one JSON object per due agreement for `reminder due --json`, most urgent first.

    An agreement due for several recipients is one object listing them all; an
    unrouted one has an empty recipient list.
    """
    merged: dict[tuple[int, int], tuple[DueItem, list[str]]] = {}
    for digest in plan.digests:
        for item in digest.items:
            key = (item.agreement.id, item.window)
            merged.setdefault(key, (item, []))[1].append(digest.recipient.email)
    for item in plan.unrouted:
        merged.setdefault((item.agreement.id, item.window), (item, []))
    for item, recipients in sorted(merged.values(), key=lambda pair: urgency(pair[0])):
        a: AgreementView = item.agreement
        yield {
            "agreement_id": a.id,
            "partner": a.partner,
            "country": a.country,
            "country_code": a.country_code,
            "programme": a.programme,
            "effective_until": a.effective_until.isoformat(),
            "approximate": a.approximate,
            "days_left": item.days_left,
            "window": item.window,
            "recipients": recipients,
        }


def write_preview(context: Context, plan: ReminderPlan, folder: Path, now: datetime) -> list[Path]:
    """Write each digest of `plan` into `folder` as .eml and .html; record nothing.

    Returns the files written.
    """
    written: list[Path] = []
    for digest in plan.digests:
        stem = f"reminder-{plan.as_of.isoformat()}-{ledger_address(digest.recipient.email)}"
        written += write_preview_files(folder, stem, compose_reminder(context, digest, now))
    return written


def write_preview_files(folder: Path, stem: str, planned: PlannedMessage) -> list[Path]:
    """Write one composed message as STEM.eml and its HTML part as STEM.html.

    The HTML is taken from the message itself, so the preview is exactly what is sent.
    Returns the two paths.
    """
    folder.mkdir(parents=True, exist_ok=True)
    eml, html = folder / f"{stem}.eml", folder / f"{stem}.html"
    eml.write_bytes(planned.raw)
    body = message_from_bytes(planned.raw, policy=default).get_body(("html",))
    html.write_text(body.get_content() if isinstance(body, EmailMessage) else "", encoding="utf-8")
    return [eml, html]


async def run_job(
    context: Context, job: str, *, as_of: date, now: datetime, dry_run: bool = False
) -> RunReport:
    """Run `job` ("reminders" or "digest") for `as_of` and record how the run ended.

    The job_runs table is what `status`, `health` and the catch-up after downtime read.
    A dry run records nothing. Returns the report; an exception is recorded as a failed
    run and raised again.
    """
    from reminder.weekly_run import run_weekly

    runner = run_weekly if job == "digest" else run_reminders
    if dry_run:
        return await runner(context, as_of=as_of, now=now, dry_run=True)
    with context.database.session() as session:
        run_id = store.start_job_run(session, job, as_of, now=now)
    try:
        report = await runner(context, as_of=as_of, now=now)
    except BaseException as error:
        with context.database.session() as session:
            store.finish_job_run(
                session,
                run_id,
                outcome="failed",
                summary=f"{type(error).__name__}: {error}",
                now=now,
            )
        raise
    outcome = "ok" if report.exit_status == 0 else "incomplete"
    with context.database.session() as session:
        store.finish_job_run(session, run_id, outcome=outcome, summary=report.summary, now=now)
    return report
