"""The reminder and weekly digest runs with real parts: SQLite, PostgreSQL and MariaDB
ledgers, and a real SMTP server that misbehaves on demand.

Every test decides, records and delivers through `reminder.runs.job.run_job` as the CLI
does, then reads what the server received and what the ledger says.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import trustme
from factories import agreement_input
from smtp_server import (
    PASSWORD,
    Faults,
    ReceivedMessage,
    SmtpTestServer,
    StartSmtpServer,
    client_config,
)
from sqlalchemy import select

from reminder import store
from reminder.cli.renewals import calendar_attachments
from reminder.config.loading import build_config
from reminder.config.schema import Config
from reminder.domain.records import AgreementInput
from reminder.errors import InputError
from reminder.importing.rows import read_table
from reminder.mail.configured import open_transport
from reminder.mail.render import Renderer
from reminder.mail.transport import Transport
from reminder.runs import reminder_run as jobs
from reminder.runs.context import Context
from reminder.runs.delivery import claim_lease
from reminder.runs.job import run_job
from reminder.runs.reminder_run import run_reminders
from reminder.runs.report import RunReport
from reminder.store import OutboxEntry, retry_delay
from reminder.store.database import Database, open_database
from reminder.store.models import JobRun, Message, MessageState, Reminder

T = TypeVar("T")

SAMPLE = Path(__file__).parents[2] / "examples" / "agreements-2022.tsv"
ZONE = ZoneInfo("Europe/Istanbul")
AS_OF = date(2022, 1, 17)  # the day the sample table was published (a Monday)
NOW = datetime(2022, 1, 17, 8, 0, tzinfo=ZONE)
SENDER = "reminder@example.edu"
AYSE = "ayse.yilmaz@example.edu"
MEHMET = "mehmet.demir@example.edu"
OFFICE = "international@example.edu"
DEAN = "dean@example.edu"
# The coordinators of config.example.toml.
COORDINATORS = [
    {
        "name": "Ayşe Yılmaz",
        "email": AYSE,
        "countries": ["AZ", "GE", "KZ", "KG", "MN", "RU", "UA"],
        "programmes": ["*"],
    },
    {
        "name": "Mehmet Demir",
        "email": MEHMET,
        "countries": ["PK", "IN", "AF", "IR", "JP", "KR", "HK", "MY"],
        "programmes": ["Mevlana"],
    },
]
# Checked by hand against the table for 2022-01-17 (windows 180/90/30/7, notices for
# agreements lapsed within 30 days; 0 is the notice): agreement id -> window, per
# recipient. Ayşe has the Georgian, Kazakh, Ukrainian and Azerbaijani ones; Mehmet has
# nothing due; the rest (Sudan, Latvia, Tunisia, Jordan, Bosnia, USA) goes to the office.
DUE_ON_AS_OF = {
    AYSE: {26: 7, 27: 90, 28: 90, 42: 180},
    OFFICE: {24: 0, 25: 0, 23: 90, 31: 180, 29: 180, 45: 180},
}
PARTNERS = {
    23: "Gabes University",
    24: "Al-Neelain University",
    25: "Baltic International Academy",
    26: "Georgia University",
    27: "L.N Gumilyov Euroasian National University",
    28: "Odessa National Polytechnic University",
    29: "International Sarajevo University",
    31: "Jordan University of Science & Technology",
    42: "Baku Musical Academy after U.Hajibayov",
    45: "Michigan State University",
}
# Windows jumped over on the first run: each item's windows larger than the one due.
SKIPPED_ON_AS_OF = {
    (24, 180), (24, 90), (24, 30), (24, 7),
    (25, 180), (25, 90), (25, 30), (25, 7),
    (26, 180), (26, 90), (26, 30),
    (27, 180), (23, 180), (28, 180),
}  # fmt: skip
SCENARIO_LIMIT_SECONDS = 30


# --- building the parts --------------------------------------------------------------


def make_config(
    server: SmtpTestServer,
    ca_file: Path,
    tmp_path: Path,
    *,
    security: str | None = None,
    timeout_seconds: float = 5.0,
    **sections: Any,
) -> Config:
    """Return a Config like config.example.toml's, sending through `server`.

    `sections` replace whole top-level tables ("reminders", "coordinators", ...).
    """
    smtp = client_config(server, ca_file, timeout_seconds=timeout_seconds)
    document: dict[str, Any] = {
        "timezone": "Europe/Istanbul",
        "agreements": {"term_years": 5, "default_programme": "Mevlana"},
        "reminders": {"windows": [180, 90, 30, 7], "default_recipient": OFFICE},
        "coordinators": COORDINATORS,
        "mail": {
            "transport": "smtp",
            "from": f"Agreement reminders <{SENDER}>",
            "reply_to": OFFICE,
            "outbox_dir": str(tmp_path / "outbox"),
        },
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": security or smtp.security,
            "username": smtp.username,
            "password": PASSWORD,
            "ca_file": str(smtp.ca_file),
            "timeout_seconds": smtp.timeout_seconds,
        },
    }
    document.update(sections)
    return build_config(document, None, {"XDG_DATA_HOME": str(tmp_path / "data")})


@functools.cache
def shared_renderer() -> Renderer:
    """Return the packaged templates, compiled once: compiling takes half a second."""
    return Renderer()


def make_context(config: Config, db: Database) -> Context:
    """Return the Context the CLI composes for `config` (cli.mail.build_context), with
    the templates compiled once for all tests."""
    assert config.mail.templates_dir is None

    def transport() -> Transport:
        return open_transport(config.mail, config.smtp, password=PASSWORD)

    return Context(
        config,
        db,
        shared_renderer(),
        open_transport=transport,
        attachments=calendar_attachments(config, db),
    )


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run `scenario`; a run that hangs fails the test instead."""

    async def bounded() -> T:
        async with asyncio.timeout(SCENARIO_LIMIT_SECONDS):
            return await scenario

    return asyncio.run(bounded())


def reminder_run(context: Context, *, as_of: date = AS_OF, now: datetime = NOW) -> RunReport:
    return run(run_job(context, "reminders", as_of=as_of, now=now))


def digest_run(context: Context, *, as_of: date, now: datetime) -> RunReport:
    return run(run_job(context, "digest", as_of=as_of, now=now))


def import_sample(db: Database) -> None:
    table = read_table(SAMPLE, term_years=5, default_programme="Mevlana")
    assert not table.problems
    with db.session() as session:
        store.apply_import(session, table.rows, now=NOW - timedelta(days=1), actor="test")


def make_row(partner: str, country_code: str, until: date, **overrides: Any) -> AgreementInput:
    """Return an import row for a Mevlana agreement with `partner` ending on `until`."""
    row = agreement_input(
        partner,
        country=country_code,
        country_code=country_code,
        concluded=until.replace(year=until.year - 5),
        effective_until=until,
        source_file="fixture.tsv",
    )
    return replace(row, **overrides)


def import_rows(db: Database, *rows: AgreementInput) -> None:
    with db.session() as session:
        store.apply_import(session, rows, now=NOW - timedelta(days=1), actor="test")


# One agreement routed to Ayşe whose 7-day reminder is due on AS_OF: the fault tests'
# whole portfolio, so that a run makes exactly one message.
TBILISI = make_row("Tbilisi Test University", "GE", AS_OF + timedelta(days=6))


# --- reading what happened -----------------------------------------------------------


def outbox(db: Database) -> list[OutboxEntry]:
    """Return every message of the ledger, whatever its state, oldest first."""
    with db.session(read_only=True) as session:
        return store.outbox_entries(session, states=list(MessageState))


def message_entry(db: Database, message_id: str) -> OutboxEntry:
    (entry,) = [entry for entry in outbox(db) if entry.message_id == message_id]
    return entry


def only_message(db: Database) -> OutboxEntry:
    (entry,) = outbox(db)
    return entry


def ledger(db: Database) -> set[tuple[int, int, str, str, int | None]]:
    """Return the ledger as (agreement, window, recipient, state, message pk) tuples."""
    with db.session(read_only=True) as session:
        rows = session.execute(
            select(
                Reminder.agreement_id,
                Reminder.window_days,
                Reminder.recipient,
                Reminder.state,
                Reminder.message_pk,
            )
        ).all()
    return {(a, w, r, str(s), m) for a, w, r, s, m in rows}


@dataclass(frozen=True)
class Mail:
    """A received message, parsed."""

    received: ReceivedMessage
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())

    def alternatives(self) -> list[str]:
        """Return the content types inside the multipart/alternative part.

        The alternative is the whole message, or its first part when files (the
        calendar) are attached.
        """
        for part in self.message.walk():
            if part.get_content_type() == "multipart/alternative":
                return [p.get_content_type() for p in part.iter_parts()]
        return []

    def to(self) -> list[str]:
        return [a.addr_spec for a in self.message["To"].addresses]

    def cc(self) -> list[str]:
        header = self.message["Cc"]
        return [] if header is None else [a.addr_spec for a in header.addresses]

    def agreement_ids(self) -> set[int]:
        """Return the agreements the text part shows a card for ("Partner (#26)")."""
        return {int(found) for found in re.findall(r"\(#(\d+)\)", self.text)}


def mails(server: SmtpTestServer) -> list[Mail]:
    return [Mail(received, received.parse()) for received in server.messages]


def mail_to(server: SmtpTestServer, address: str) -> list[Mail]:
    return [mail for mail in mails(server) if address in mail.received.recipients]


# --- the sample table, a healthy server -----------------------------------------------


def test_each_coordinator_gets_one_digest_of_exactly_their_agreements(
    db: Database, tmp_path: Path, smtp_server: SmtpTestServer, smtp_ca_file: Path
) -> None:
    import_sample(db)
    context = make_context(make_config(smtp_server, smtp_ca_file, tmp_path), db)

    report = reminder_run(context)

    assert report.exit_status == 0, report.summary
    assert (report.due, report.recorded_messages) == (10, 2)
    assert report.skipped == len(SKIPPED_ON_AS_OF)
    assert not report.unrouted
    assert (report.delivery.sent, report.delivery.pending, report.delivery.failed) == (2, 0, 0)
    received = mails(smtp_server)
    assert sorted(r for m in received for r in m.received.recipients) == [AYSE, OFFICE]
    assert mail_to(smtp_server, MEHMET) == []
    entries = {entry.message_id: entry for entry in outbox(db)}
    for address, due in DUE_ON_AS_OF.items():
        (mail,) = mail_to(smtp_server, address)
        assert mail.received.recipients == (address,)
        assert mail.received.sender == SENDER
        assert (mail.received.tls, mail.received.acknowledged) == (True, True)
        assert mail.to() == [address]
        assert mail.cc() == []
        assert mail.alternatives() == ["text/plain", "text/html"]
        assert mail.message["Auto-Submitted"] == "auto-generated"
        assert str(mail.message["From"]) == f"Agreement reminders <{SENDER}>"
        assert mail.agreement_ids() == set(due)
        for agreement_id in due:
            assert PARTNERS[agreement_id] in mail.text
            # The HTML part is escaped: "&" arrives as "&amp;".
            assert PARTNERS[agreement_id].replace("&", "&amp;") in mail.html
        for other in set(PARTNERS) - set(due):
            assert PARTNERS[other] not in mail.text
        subject = str(mail.message["Subject"])
        assert subject.startswith(f"{len(due)} agreements to renew: ")
        entry = entries[mail.message_id]
        assert (entry.kind, entry.state, entry.attempts, entry.subject) == (
            "reminder",
            "sent",
            1,
            subject,
        )
        assert entry.recipients == ((address, "sent", None),)
    # The most urgent item leads the subject: notices first, then the 7-day reminder.
    assert "Al-Neelain University" in str(mail_to(smtp_server, OFFICE)[0].message["Subject"])
    assert "Georgia University" in str(mail_to(smtp_server, AYSE)[0].message["Subject"])

    rows = ledger(db)
    message_pks = {entry.message_id: entry.pk for entry in outbox(db)}
    queued = {
        (agreement, window, address, message_pks[mail_to(smtp_server, address)[0].message_id])
        for address, due in DUE_ON_AS_OF.items()
        for agreement, window in due.items()
    }
    assert {(a, w, r, m) for a, w, r, s, m in rows if s == "queued"} == queued
    recipient_of = {a: r for r, due in DUE_ON_AS_OF.items() for a in due}
    assert {(a, w, r, m) for a, w, r, s, m in rows if s == "skipped"} == {
        (a, w, recipient_of[a], None) for a, w in SKIPPED_ON_AS_OF
    }
    assert len(rows) == 10 + len(SKIPPED_ON_AS_OF)

    again = reminder_run(context, now=NOW + timedelta(hours=3))

    assert (again.due, again.recorded_messages, again.skipped) == (0, 0, 0)
    assert again.delivery.messages == []
    assert again.exit_status == 0
    assert len(smtp_server.messages) == 2
    # What went out is the bytes the ledger holds, recorded before the first send.
    with db.session(read_only=True) as session:
        raws = set(session.scalars(select(Message.raw)))
    assert {received.raw for received in smtp_server.messages} == raws
    assert ledger(db) == rows
    with db.session(read_only=True) as session:
        runs = session.execute(select(JobRun.job, JobRun.outcome).order_by(JobRun.id)).all()
    assert [tuple(r) for r in runs] == [("reminders", "ok"), ("reminders", "ok")]


def test_a_coordinator_under_two_rules_gets_one_digest(
    db: Database, tmp_path: Path, smtp_server: SmtpTestServer, smtp_ca_file: Path
) -> None:
    import_sample(db)
    # Ayşe listed twice, her address and name spelled differently, Georgia in both.
    coordinators = [
        {**COORDINATORS[0], "countries": ["GE", "KZ"]},
        {"name": "Ayse Yilmaz", "email": AYSE.capitalize(), "countries": ["GE", "UA", "AZ"]},
    ]
    config = make_config(smtp_server, smtp_ca_file, tmp_path, coordinators=coordinators)

    report = reminder_run(make_context(config, db))

    assert report.exit_status == 0, report.summary
    (mail,) = mail_to(smtp_server, AYSE)
    assert mail.agreement_ids() == set(DUE_ON_AS_OF[AYSE])
    assert mail.to() == [AYSE]
    assert len(smtp_server.messages) == 2  # Ayşe's and the office's

    digest_run(make_context(config, db), as_of=AS_OF, now=NOW)

    (weekly,) = [m for m in mail_to(smtp_server, AYSE) if m.message_id != mail.message_id]
    # Each agreement counted once, though Georgia's match both of her rules.
    assert "Expiring within 180 days (4)" in weekly.text
    assert str(weekly.message["Subject"]).startswith("Agreements 2022-W03: 4 expiring")


def test_unrouted_agreements_are_reported_every_run_and_never_dropped(
    db: Database, tmp_path: Path, smtp_server: SmtpTestServer, smtp_ca_file: Path
) -> None:
    import_sample(db)
    config = make_config(
        smtp_server, smtp_ca_file, tmp_path, reminders={"windows": [180, 90, 30, 7]}
    )
    context = make_context(config, db)

    first = reminder_run(context)
    second = reminder_run(context, now=NOW + timedelta(hours=1))

    # Without a default recipient the office's share matches no coordinator.
    unrouted = {(item.agreement.id, item.window) for item in first.unrouted}
    assert unrouted == set(DUE_ON_AS_OF[OFFICE].items())
    assert {(item.agreement.id, item.window) for item in second.unrouted} == unrouted
    assert first.exit_status == second.exit_status == 1
    (mail,) = mails(smtp_server)
    assert mail.to() == [AYSE]
    assert mail.agreement_ids() == set(DUE_ON_AS_OF[AYSE])
    # Nothing about the unrouted ones is in the ledger: a later config fix sends them.
    assert {a for a, *_ in ledger(db)} == set(DUE_ON_AS_OF[AYSE])

    routed = make_context(make_config(smtp_server, smtp_ca_file, tmp_path), db)
    third = reminder_run(routed, now=NOW + timedelta(hours=2))

    assert third.exit_status == 0 and not third.unrouted
    assert mail_to(smtp_server, OFFICE)[0].agreement_ids() == set(DUE_ON_AS_OF[OFFICE])
    assert len(smtp_server.messages) == 2


def test_a_run_for_a_day_before_the_latest_completed_run_is_refused_unless_forced(
    db: Database, tmp_path: Path, smtp_server: SmtpTestServer, smtp_ca_file: Path
) -> None:
    """A run a year ahead records the windows it passes as skipped; the daily runs
    after it would then never send them. So an earlier day is refused, saying both
    days and recording nothing, until the operator forces it."""
    import_sample(db)
    context = make_context(make_config(smtp_server, smtp_ca_file, tmp_path), db)
    year_ahead = AS_OF + timedelta(days=365)
    reminder_run(context, as_of=year_ahead)
    recorded = ledger(db)
    with db.session(read_only=True) as session:
        runs_before = session.scalars(select(JobRun.id)).all()

    with pytest.raises(InputError) as refused:
        reminder_run(context, now=NOW + timedelta(hours=1))

    (problem,) = refused.value.problems
    assert str(AS_OF) in problem and str(year_ahead) in problem and "--force" in problem
    assert refused.value.exit_status == 2
    assert ledger(db) == recorded
    with db.session(read_only=True) as session:
        assert session.scalars(select(JobRun.id)).all() == runs_before
    # A dry run and another job are not held back; --force runs it.
    assert run(run_job(context, "reminders", as_of=AS_OF, now=NOW, dry_run=True)).dry_run
    forced = run(run_job(context, "reminders", as_of=AS_OF, now=NOW, force=True))
    assert forced.exit_status == 0
    with db.session(read_only=True) as session:
        assert store.latest_run_day(session, "reminders") == year_ahead
        assert store.latest_run_day(session, "reminders", not_after=AS_OF) == AS_OF
        assert store.latest_run_day(session, "digest") is None


# --- faults: the message stays pending and is delivered once later -------------------


@dataclass(frozen=True)
class Fault:
    """A way delivery goes wrong; the message must stay pending through it."""

    start: Callable[[StartSmtpServer, trustme.CA], SmtpTestServer]
    error: str  # a fragment of the error the ledger must keep
    kept: bool = False  # the server kept the message although the client saw a failure
    security: str | None = None
    timeout_seconds: float = 5.0


def _faulty(**faults: Any) -> Callable[[StartSmtpServer, trustme.CA], SmtpTestServer]:
    return lambda start, untrusted: start(faults=Faults(**faults))


TEMPORARY_FAULTS = {
    "421-at-connect": Fault(_faulty(greeting_reply="421 4.3.2 Too busy"), "421 4.3.2 Too busy"),
    "451-at-rcpt": Fault(_faulty(rcpt_replies={AYSE: "451 4.3.0 Try later"}), "451 4.3.0"),
    "451-at-data": Fault(_faulty(data_reply="451 4.3.0 Local error"), "451 4.3.0 Local error"),
    "dropped-after-data": Fault(_faulty(drop_after_data=True), "connection lost", kept=True),
    "stalled-after-data": Fault(
        _faulty(stall_after_data=True), "no answer in time", kept=True, timeout_seconds=0.5
    ),
    "stalled-greeting": Fault(
        _faulty(stall_greeting=True), "no answer within 0.5 s", timeout_seconds=0.5
    ),
    "unknown-ca": Fault(
        lambda start, untrusted: start(certificate_authority=untrusted),
        "certificate was not accepted",
    ),
    "no-starttls": Fault(
        lambda start, untrusted: start("none"), "does not offer STARTTLS", security="starttls"
    ),
}


def test_temporary_faults_keep_the_message_pending_then_a_later_run_delivers_it_once(
    db: Database,
    tmp_path: Path,
    start_smtp_server: StartSmtpServer,
    untrusted_ca: trustme.CA,
    smtp_ca_file: Path,
    subtests: pytest.Subtests,
) -> None:
    # One database for every fault, each with an agreement of its own due that day,
    # a day apart: creating a server database per fault would cost more than the fault.
    for index, (name, fault) in enumerate(TEMPORARY_FAULTS.items()):
        with subtests.test(fault=name):
            check_fault(
                fault,
                make_row(f"Fault {index} University", "GE", AS_OF + timedelta(days=6)),
                NOW + timedelta(days=index),
                db,
                tmp_path,
                start_smtp_server,
                untrusted_ca,
                smtp_ca_file,
            )


def check_fault(
    fault: Fault,
    row: AgreementInput,
    now: datetime,
    db: Database,
    tmp_path: Path,
    start_smtp_server: StartSmtpServer,
    untrusted_ca: trustme.CA,
    smtp_ca_file: Path,
) -> None:
    """Decide `row`'s reminder at `now` through a server with `fault`; check that the
    message stays pending with the error kept, then goes out once through a healthy one.
    """
    import_rows(db, row)
    faulty = fault.start(start_smtp_server, untrusted_ca)
    config = make_config(
        faulty,
        smtp_ca_file,
        tmp_path,
        security=fault.security,
        timeout_seconds=fault.timeout_seconds,
    )

    first = reminder_run(make_context(config, db), now=now)

    assert (first.recorded_messages, first.delivery.sent, first.delivery.pending) == (1, 0, 1)
    assert first.exit_status == 1
    (planned,) = first.planned
    entry = message_entry(db, planned.message_id)
    assert (entry.state, entry.attempts) == ("pending", 1)
    assert entry.last_error is not None and fault.error in entry.last_error
    # Backoff: the first retry waits five minutes, from when the attempt ended.
    wait = entry.next_attempt_at - now
    assert retry_delay(1) == timedelta(minutes=5)
    assert retry_delay(1) <= wait < retry_delay(1) + timedelta(seconds=SCENARIO_LIMIT_SECONDS)
    assert entry.failing_since is not None
    ((address, state, error),) = entry.recipients
    assert (address, state) == (AYSE, "pending")
    assert error is not None and fault.error in error
    kept = faulty.messages
    if fault.kept:
        (half_sent,) = kept
        assert not half_sent.acknowledged
        assert half_sent.parse()["Message-ID"] == entry.message_id
    else:
        assert kept == ()
    if fault.security == "starttls":  # nothing but EHLO went out in clear
        assert not {"AUTH", "MAIL", "RCPT", "DATA"} & set(faulty.verbs())
    with db.session(read_only=True) as session:
        outcome = session.scalars(select(JobRun.outcome).order_by(JobRun.id.desc())).first()
    assert outcome == "incomplete"

    healthy = start_smtp_server()
    recovered = make_context(make_config(healthy, smtp_ca_file, tmp_path), db)

    early = reminder_run(recovered, now=now + timedelta(minutes=1))
    assert early.delivery.messages == [] and healthy.messages == ()
    assert early.exit_status == 1  # still pending

    later = reminder_run(recovered, now=now + timedelta(minutes=10))

    assert later.recorded_messages == 0  # decided once, on the first run
    assert later.exit_status == 0
    (mail,) = mails(healthy)
    assert mail.message_id == entry.message_id
    assert len(mail.agreement_ids()) == 1 and row.partner in mail.text
    if fault.kept:  # a duplicate of what the faulty server kept, byte for byte
        assert mail.received.raw == kept[0].raw
    settled = message_entry(db, entry.message_id)
    assert (settled.state, settled.attempts, settled.last_error) == ("sent", 2, None)
    assert settled.recipients == ((AYSE, "sent", None),)
    assert settled.failing_since is None

    reminder_run(recovered, now=now + timedelta(hours=12))
    assert len(healthy.messages) == 1


def test_retries_back_off_doubling_while_the_server_stays_busy(
    db: Database, tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    import_rows(db, TBILISI)
    busy = start_smtp_server(faults=Faults(greeting_reply="421 4.3.2 Too busy"))
    context = make_context(make_config(busy, smtp_ca_file, tmp_path), db)
    attempts_at = [NOW]

    reminder_run(context, now=NOW)
    for _ in range(3):
        entry = only_message(db)
        wait = entry.next_attempt_at - attempts_at[-1]
        assert (
            retry_delay(entry.attempts)
            <= wait
            < retry_delay(entry.attempts) + timedelta(seconds=SCENARIO_LIMIT_SECONDS)
        )
        # Not before its time ...
        reminder_run(context, now=entry.next_attempt_at - timedelta(seconds=1))
        assert only_message(db).attempts == entry.attempts
        # ... and then once.
        attempts_at.append(entry.next_attempt_at)
        reminder_run(context, now=entry.next_attempt_at)
        assert only_message(db).attempts == entry.attempts + 1

    assert busy.session_count == 4
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
    ]
    assert only_message(db).state == "pending"


def test_one_recipient_refusing_for_good_leaves_the_message_partly_failed_until_retried(
    db: Database, tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    """A coordinator got it, the escalation cc was refused for good: the message is not
    "sent". The run fails, the outbox and health show it, and once the address works
    `outbox retry` sends it to the refused recipient alone."""
    import_rows(db, TBILISI)
    server = start_smtp_server(faults=Faults(rcpt_replies={DEAN: "550 5.1.1 No such user"}))
    escalation = {"at_window": 7, "cc": [DEAN]}
    config = make_config(server, smtp_ca_file, tmp_path, escalation=escalation)
    context = make_context(config, db)

    report = reminder_run(context)

    (mail,) = mails(server)
    assert mail.received.recipients == (AYSE,)
    assert (mail.to(), mail.cc()) == ([AYSE], [DEAN])  # the header still names the dean
    entry = only_message(db)
    assert (entry.state, entry.attempts) == ("partial", 1)
    assert entry.last_error == f"{DEAN}: 550 5.1.1 No such user"
    assert entry.recipients == (
        (AYSE, "sent", None),
        (DEAN, "failed", "550 5.1.1 No such user"),
    )
    delivery = report.delivery
    # Not counted as sent: one recipient never got it.
    counts = (delivery.sent, delivery.pending, delivery.failed, delivery.partly_failed)
    assert counts == (0, 0, 0, 1)
    assert report.exit_status == 1
    assert [o.status for o in delivery.messages] == ["partial"]
    with db.session(read_only=True) as session:
        failing = store.oldest_failing_message(session)
        listed = store.outbox_entries(session, states=[MessageState.PARTIAL])
    assert failing is not None and failing.message_id == entry.message_id
    assert [e.message_id for e in listed] == [entry.message_id]

    # Nothing is retried on its own: a refusal for good waits for a person.
    reminder_run(context, now=NOW + timedelta(days=1))
    assert len(server.messages) == 1
    # The weekly digests name it: the office's, and Ayşe's, whose reminder it was.
    digest_run(context, as_of=AS_OF, now=NOW + timedelta(days=1))
    for reader in (OFFICE, AYSE):
        (weekly,) = [m for m in mail_to(server, reader) if m.message_id != entry.message_id]
        assert "Mail refused for good (1)" in weekly.text
        assert f"refused by {DEAN}: 550 5.1.1 No such user" in weekly.text
        assert entry.message_id in weekly.text
        assert f"Refused by {DEAN}: 550 5.1.1 No such user" in weekly.html

    fixed = start_smtp_server()
    with db.session() as session:
        assert store.requeue(session, now=NOW + timedelta(days=1)) == store.Requeued(1, 0)
    again = reminder_run(
        make_context(make_config(fixed, smtp_ca_file, tmp_path, escalation=escalation), db),
        now=NOW + timedelta(days=1, minutes=1),
    )

    (resent,) = mails(fixed)
    assert resent.received.recipients == (DEAN,)  # Ayşe does not get it twice
    assert resent.message_id == entry.message_id
    assert message_entry(db, entry.message_id).state == "sent"
    assert message_entry(db, entry.message_id).last_error is None
    assert again.exit_status == 0


def test_a_recipient_deferred_after_another_was_refused_keeps_the_refusal(
    db: Database, tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    import_rows(db, TBILISI)
    rcpt_replies = {DEAN: "550 5.1.1 No such user", AYSE: "452 4.2.2 Mailbox full"}
    server = start_smtp_server(faults=Faults(rcpt_replies=rcpt_replies))
    escalation = {"at_window": 7, "cc": [DEAN]}
    config = make_config(server, smtp_ca_file, tmp_path, escalation=escalation)

    reminder_run(make_context(config, db))

    entry = only_message(db)
    assert (entry.state, entry.attempts) == ("pending", 1)
    assert entry.recipients == (
        (AYSE, "pending", "452 4.2.2 Mailbox full"),
        (DEAN, "failed", "550 5.1.1 No such user"),
    )
    healthy = start_smtp_server()
    config = make_config(healthy, smtp_ca_file, tmp_path, escalation=escalation)

    reminder_run(make_context(config, db), now=NOW + timedelta(hours=1))

    (mail,) = mails(healthy)
    assert mail.received.recipients == (AYSE,)  # the dean was refused for good
    settled = only_message(db)
    assert settled.state == "partial"
    # The dean's refusal still stands after Ayşe's copy went out on the second attempt.
    assert settled.last_error == f"{DEAN}: 550 5.1.1 No such user"


def test_a_permanent_refusal_fails_and_outbox_retry_puts_it_back(
    db: Database, tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    import_rows(db, TBILISI)
    refusing = start_smtp_server(faults=Faults(data_reply="554 5.6.0 Content rejected"))

    report = reminder_run(make_context(make_config(refusing, smtp_ca_file, tmp_path), db))

    assert (report.delivery.sent, report.delivery.pending, report.delivery.failed) == (0, 0, 1)
    assert report.exit_status == 1
    entry = only_message(db)
    assert (entry.state, entry.attempts) == ("failed", 1)
    assert entry.last_error is not None and "554 5.6.0 Content rejected" in entry.last_error
    assert entry.recipients[0][:2] == (AYSE, "failed")
    healthy = start_smtp_server()
    recovered = make_context(make_config(healthy, smtp_ca_file, tmp_path), db)
    reminder_run(recovered, now=NOW + timedelta(days=1))
    assert healthy.messages == ()  # failed for good: no retry on its own

    with db.session() as session:
        requeued = store.requeue(session, now=NOW + timedelta(days=1, hours=1))

    assert requeued == store.Requeued(refused=1, deferred=0)
    back = only_message(db)
    assert (back.state, back.recipients[0][1]) == ("pending", "pending")
    reminder_run(recovered, now=NOW + timedelta(days=1, hours=2))
    (mail,) = mails(healthy)
    assert mail.message_id == entry.message_id
    assert only_message(db).state == "sent"
    with db.session() as session:
        assert store.requeue(session, now=NOW + timedelta(days=2)) == store.Requeued(0, 0)


def test_a_claim_lasts_its_lease_from_when_it_was_taken_in_a_long_delivery_pass(
    db: Database, tmp_path: Path, start_smtp_server: StartSmtpServer, smtp_ca_file: Path
) -> None:
    import_sample(db)  # two digests: the second is claimed after the first went out
    slow = start_smtp_server(faults=Faults(reply_delay_seconds=0.1))
    config = make_config(slow, smtp_ca_file, tmp_path)
    seen: list[datetime] = []
    finished = threading.Event()

    def watch_the_last_message() -> None:
        while not finished.is_set() and not seen:
            with db.session(read_only=True) as session:
                claimed = session.scalars(
                    select(Message.claimed_until).order_by(Message.id.desc()).limit(1)
                ).first()
            if claimed is not None:
                seen.append(claimed)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch_the_last_message)
    watcher.start()
    try:
        report = reminder_run(make_context(config, db))
    finally:
        finished.set()
        watcher.join(SCENARIO_LIMIT_SECONDS)

    assert report.delivery.sent == 2
    # The first message took at least four delayed replies (MAIL, RCPT, DATA, the end
    # of DATA) before the second was claimed: its lease starts that much after NOW.
    (claimed_until,) = seen
    assert claimed_until - claim_lease(config.smtp) >= NOW + timedelta(seconds=0.4)
    with db.session(read_only=True) as session:
        sent_at = session.scalars(select(Message.sent_at).order_by(Message.id)).all()
    assert sent_at[1] is not None and sent_at[1] >= NOW + timedelta(seconds=0.4)


# --- recording in batches --------------------------------------------------------------


def test_a_crash_between_recorded_batches_loses_nothing_and_repeats_nothing(
    db: Database,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    smtp_ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_sample(db)
    context = make_context(make_config(smtp_server, smtp_ca_file, tmp_path), db)
    # One digest per transaction (the sample's two digests are far below the real
    # batch size), and the process "dies" when it starts the second one.
    monkeypatch.setattr(jobs, "RECORD_BATCH_BYTES", 1)
    real_record_plan = store.record_plan
    calls: list[int] = []

    def dying_record_plan(*args: Any, **kwargs: Any) -> None:
        calls.append(len(args[1]))
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between two batches")
        real_record_plan(*args, **kwargs)

    monkeypatch.setattr(store, "record_plan", dying_record_plan)
    with pytest.raises(KeyboardInterrupt):
        reminder_run(context)
    first = ledger(db)
    assert calls == [1, 1] and mails(smtp_server) == []
    (pending,) = outbox(db)  # the first digest, recorded with its decisions
    recorded_first = {(a, w) for a, w, r, s, m in first if s == "queued"}
    assert recorded_first and all(m == pending.pk for *_, s, m in first if s == "queued")

    monkeypatch.setattr(store, "record_plan", real_record_plan)
    report = reminder_run(context)

    assert (report.recorded_messages, report.delivery.sent) == (1, 2), report.summary
    assert first < ledger(db)
    entries = ledger(db)
    keys = Counter((a, w, r) for a, w, r, *_ in entries)
    assert set(keys.values()) == {1}
    assert {(a, w) for a, w, r, s, m in entries if s == "skipped"} == SKIPPED_ON_AS_OF
    due = {(a, w) for a, w, r, s, m in entries if s != "skipped"}
    assert due == {(a, w) for items in DUE_ON_AS_OF.values() for a, w in items.items()}
    assert sorted(r for m in mails(smtp_server) for r in m.received.recipients) == [AYSE, OFFICE]
    assert reminder_run(context).recorded_messages == 0


def test_a_failed_claim_still_records_the_message_sent_before_it(
    db: Database,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    smtp_ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_sample(db)
    context = make_context(make_config(smtp_server, smtp_ca_file, tmp_path), db)
    real_claim = store.claim_next_message
    claims: list[int] = []

    class Deadlock(Exception):
        pass

    def claim_next_message(*args: Any, **kwargs: Any) -> store.ClaimedMessage | None:
        # The second claim shares its transaction with the record of the first
        # message, which the server has accepted by then.
        claims.append(1)
        if len(claims) == 2:
            raise Deadlock("the database gave up on the claim")
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(store, "claim_next_message", claim_next_message)
    with pytest.raises(Deadlock):
        reminder_run(context)
    (first,) = mails(smtp_server)
    assert {entry.message_id: entry.state for entry in outbox(db)}[first.message_id] == "sent"

    monkeypatch.setattr(store, "claim_next_message", real_claim)
    later = NOW + claim_lease(context.config.smtp) + timedelta(seconds=1)
    report = reminder_run(context, now=later)

    assert report.delivery.sent == 1, report.summary
    sent = Counter(mail.message_id for mail in mails(smtp_server))
    assert len(sent) == 2 and set(sent.values()) == {1}


# --- two runs at once ----------------------------------------------------------------


@pytest.fixture
def decide_together(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Barrier]:
    """Make the first record_plan of each of two threads wait until both have decided.

    The real record_plan runs afterwards: the database's unique constraints pick the
    winner, as they would for two processes that decided at the same moment.
    """
    barrier = threading.Barrier(2, timeout=SCENARIO_LIMIT_SECONDS)
    real_record_plan = store.record_plan
    waited: set[int] = set()

    def record_plan(*args: Any, **kwargs: Any) -> None:
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait()
        real_record_plan(*args, **kwargs)

    monkeypatch.setattr(store, "record_plan", record_plan)
    yield barrier


def test_two_runs_deciding_at_once_record_and_send_each_reminder_once(
    database_url: str,
    db: Database,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    smtp_ca_file: Path,
    decide_together: threading.Barrier,
) -> None:
    import_sample(db)
    config = make_config(smtp_server, smtp_ca_file, tmp_path)
    reports: dict[str, RunReport] = {}
    errors: list[BaseException] = []

    def run_in_thread(name: str) -> None:
        # A Database (engine and pool) of its own, as a second process would have.
        with open_database(database_url) as database:
            try:
                context = make_context(config, database)
                reports[name] = run(run_reminders(context, as_of=AS_OF, now=NOW))
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=run_in_thread, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SCENARIO_LIMIT_SECONDS)

    assert errors == []
    recorded = sorted(report.recorded_messages for report in reports.values())
    assert recorded == [0, 2]  # the loser decided again and found everything recorded
    loser = next(r for r in reports.values() if r.recorded_messages == 0)
    assert (loser.due, loser.skipped) == (0, 0)
    keys = Counter((a, w, r) for a, w, r, *_ in ledger(db))
    assert set(keys.values()) == {1}
    assert len(keys) == 10 + len(SKIPPED_ON_AS_OF)
    sent = Counter(mail.message_id for mail in mails(smtp_server))
    assert len(sent) == 2 and set(sent.values()) == {1}
    assert {entry.state for entry in outbox(db)} == {"sent"}


def test_a_weekly_run_that_loses_a_race_still_records_the_digests_the_winner_lacked(
    database_url: str,
    db: Database,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    smtp_ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_sample(db)
    # Two processes with different settings (a config reloaded mid-week): the quiet one
    # plans digests for Ayşe and the office, the chatty one also Mehmet's empty one.
    quiet = make_config(smtp_server, smtp_ca_file, tmp_path)
    chatty = make_config(smtp_server, smtp_ca_file, tmp_path, digest={"send_when_empty": True})
    chatty_decided, quiet_recorded = threading.Event(), threading.Event()
    real_record_plan = store.record_plan

    def record_plan(*args: Any, **kwargs: Any) -> None:
        # Both decide first; then the quiet one records, then the chatty one tries.
        name = threading.current_thread().name
        if name == "quiet" and not quiet_recorded.is_set():
            assert chatty_decided.wait(SCENARIO_LIMIT_SECONDS)
            real_record_plan(*args, **kwargs)
            quiet_recorded.set()
            return
        if name == "chatty" and not chatty_decided.is_set():
            chatty_decided.set()
            assert quiet_recorded.wait(SCENARIO_LIMIT_SECONDS)
        real_record_plan(*args, **kwargs)

    monkeypatch.setattr(store, "record_plan", record_plan)
    reports: dict[str, RunReport] = {}
    errors: list[BaseException] = []

    def run_in_thread(config: Config) -> None:
        with open_database(database_url) as database:
            try:
                context = make_context(config, database)
                name = threading.current_thread().name
                reports[name] = run(run_job(context, "digest", as_of=AS_OF, now=NOW))
            except BaseException as error:
                errors.append(error)

    threads = [
        threading.Thread(target=run_in_thread, args=(config,), name=name)
        for name, config in (("quiet", quiet), ("chatty", chatty))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SCENARIO_LIMIT_SECONDS)

    assert errors == []
    assert (reports["quiet"].recorded_messages, reports["chatty"].recorded_messages) == (2, 1)
    sent = Counter(r for mail in mails(smtp_server) for r in mail.received.recipients)
    assert sent == {AYSE: 1, OFFICE: 1, MEHMET: 1}


# --- the weekly digest -----------------------------------------------------------------


def test_weekly_digest_goes_out_once_per_recipient_and_week(
    db: Database, tmp_path: Path, smtp_server: SmtpTestServer, smtp_ca_file: Path
) -> None:
    import_sample(db)
    context = make_context(make_config(smtp_server, smtp_ca_file, tmp_path), db)
    reminder_run(context)  # the day's reminders first, as on a Monday morning
    reminders = {mail.message_id for mail in mails(smtp_server)}

    first = digest_run(context, as_of=AS_OF, now=NOW + timedelta(minutes=5))

    # Mehmet's partners neither expire within 180 days nor lapsed, nor have warnings:
    # an empty digest, not sent while digest.send_when_empty is false.
    assert first.exit_status == 0
    weekly = [mail for mail in mails(smtp_server) if mail.message_id not in reminders]
    assert sorted(r for m in weekly for r in m.received.recipients) == [AYSE, OFFICE]
    (ayse,) = [mail for mail in weekly if mail.to() == [AYSE]]
    (office,) = [mail for mail in weekly if mail.to() == [OFFICE]]
    assert str(ayse.message["Subject"]).startswith("Agreements 2022-W03: 4 expiring, 0 lapsed")
    assert str(office.message["Subject"]).startswith("Agreements 2022-W03: 4 expiring, 2 lapsed")
    for mail in (ayse, office):
        assert mail.alternatives() == ["text/plain", "text/html"]
        assert mail.message["Auto-Submitted"] == "auto-generated"
        assert "Portfolio (" in mail.text
        assert "Expiring within 180 days (4)" in mail.text
    assert "Approximate dates (1)" in ayse.text  # Tbilisi State University: "xx.01.2018"
    assert "Lapsed in the last 12 months, not renewed (2)" in office.text
    assert {1, 26, 27, 28, 42} <= ayse.agreement_ids()
    assert {23, 24, 25, 29, 31, 45} <= office.agreement_ids()
    assert "Lapsed in the last 12 months" not in ayse.text
    # The reminders and the digests are separate ledgers: neither stops the other.
    assert Counter((e.kind, e.state) for e in outbox(db)) == {
        ("reminder", "sent"): 2,
        ("weekly", "sent"): 2,
    }
    assert reminder_run(context, now=NOW + timedelta(minutes=10)).recorded_messages == 0

    same_week = digest_run(context, as_of=AS_OF + timedelta(days=4), now=NOW + timedelta(days=4))
    assert (same_week.due, same_week.recorded_messages) == (0, 0)
    assert len(smtp_server.messages) == 4

    # send_when_empty: Mehmet's empty digest is the only one this week still to go.
    chatty = make_config(smtp_server, smtp_ca_file, tmp_path, digest={"send_when_empty": True})
    empty = digest_run(
        make_context(chatty, db), as_of=AS_OF + timedelta(days=5), now=NOW + timedelta(days=5)
    )
    assert empty.recorded_messages == 1
    (mehmet,) = mail_to(smtp_server, MEHMET)
    assert str(mehmet.message["Subject"]).startswith("Agreements 2022-W03: nothing to renew")
    assert "Nothing needs your attention this week" in mehmet.text
    assert "Portfolio (" in mehmet.text

    next_week = digest_run(context, as_of=AS_OF + timedelta(days=7), now=NOW + timedelta(days=7))
    assert next_week.recorded_messages == 2
    later = mails(smtp_server)[5:]
    assert sorted(r for m in later for r in m.received.recipients) == [AYSE, OFFICE]
    assert all(str(m.message["Subject"]).startswith("Agreements 2022-W04:") for m in later)
    assert len({m.message_id for m in mails(smtp_server)}) == 7


def test_a_coordinator_named_only_by_the_table_gets_a_weekly_digest_too(
    db: Database, tmp_path: Path, smtp_server: SmtpTestServer, smtp_ca_file: Path
) -> None:
    """An agreement whose own coordinator (from the table) is not a configured one is
    routed to that address for its reminders; its weekly digest goes there too."""
    partner_coordinator = "Zeynep.Kaya@Partner.example.org"
    import_rows(
        db,
        make_row(
            "Table Routed University",
            "GE",
            AS_OF + timedelta(days=40),
            coordinator_email=partner_coordinator,
        ),
        TBILISI,
    )
    context = make_context(make_config(smtp_server, smtp_ca_file, tmp_path), db)

    report = digest_run(context, as_of=AS_OF, now=NOW)

    assert report.exit_status == 0
    (mail,) = mail_to(smtp_server, partner_coordinator)
    assert "Table Routed University" in mail.text
    assert "Tbilisi Test University" not in mail.text
    # Ayşe's digest keeps her own agreement only; the table's address is not hers.
    (ayse,) = mail_to(smtp_server, AYSE)
    assert "Tbilisi Test University" in ayse.text
    assert "Table Routed University" not in ayse.text
