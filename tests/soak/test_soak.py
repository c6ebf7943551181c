"""Soak: 400 days of daily reminder runs over 5,000 agreements, against a faulty server.

One `jobs.run_job` per simulated day (as_of and now move a day at a time) on an SQLite
file, while:

- the in-process SMTP server fails 20% of its sessions, drawn with a seeded RNG from
  421 at the greeting, 451 at RCPT, 451 after DATA, and the connection dropped after
  DATA (the message kept, no reply);
- agreements are renewed along the way: on every RENEWAL_EVERY-th day some agreements
  near a window get a corrected row (a later effective-until) through store.apply_import,
  as a re-import of the office's table would;
- the process is "killed" KILLS times. A kill is simulated in-process: the run is
  abandoned by an exception raised at a random step, either while the digests are
  composed (nothing of the day recorded yet) or inside the transport just before a
  claimed message would go out; the Context, its Database and its connections are
  then thrown away and a new one is built, as a restarted process would. Kills are not
  placed between the server's acceptance and the ledger's record of it: that window
  behaves as a drop after DATA does, which the faults already cover.

At the end the server is healed, the last day is run again (a restart's catch-up) and
the outbox drained. Then every reminder that an independent computation of the window
rule expects (written here, not with reminder.domain.windows.decide) must have arrived, nothing
else may have, and a reminder may arrive twice only when its first copy was dropped after
DATA, the copies carrying the same Message-ID.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from factories import agreement_input
from smtp_server import (
    EveryAddress,
    Faults,
    RandomFaults,
    ReceivedMessage,
    SmtpTestServer,
    client_config,
)
from sqlalchemy import select

from reminder import store
from reminder.config.loading import build_config
from reminder.config.schema import Config
from reminder.domain.records import AgreementInput
from reminder.domain.reminder_digest import ReminderDigest
from reminder.importing.rows import normalize_key
from reminder.mail.configured import open_transport
from reminder.mail.mime import Attachment
from reminder.mail.render import Renderer
from reminder.mail.transport import DeliveryResult, Envelope, Transport
from reminder.runs.context import Context
from reminder.runs.job import run_job
from reminder.store.database import Database, open_database
from reminder.store.models import Message

pytestmark = pytest.mark.slow

SEED = 20240101
FIRST_DAY = date(2024, 1, 1)
DAYS = 400
AGREEMENTS = 5000
# The share of the portfolio that ends during the soak (or lapsed just before it); the
# rest ended long ago or ends years later, and is read by no run.
ACTIVE_SHARE = 0.12
WINDOWS = (180, 90, 30, 7)
LOOKBACK_DAYS = 30
FAULT_RATE = 0.2
KILLS = 10
RENEWAL_EVERY = 25
RENEWALS_PER_DAY = 12
RENEWAL_EXTENSION = timedelta(days=365)
PROGRAMME = "Mevlana"
SENDER = "reminder@example.edu"
# Country -> who gets its reminders; the last country has no coordinator, so its
# agreements go to the default recipient.
COUNTRIES = {
    "Azerbaijan": ("AZ", "ayse@example.edu"),
    "Georgia": ("GE", "ayse@example.edu"),
    "Japan": ("JP", "mehmet@example.edu"),
    "Pakistan": ("PK", "mehmet@example.edu"),
    "Germany": ("DE", "office@example.edu"),
}
DEFAULT_RECIPIENT = "office@example.edu"
FAULT_KINDS = {
    "421 at greeting": Faults(greeting_reply="421 4.3.2 Too busy, try later"),
    "451 at RCPT": Faults(rcpt_replies=EveryAddress("451 4.3.0 Mailbox busy")),
    "451 at DATA": Faults(data_reply="451 4.3.0 Queue full, try later"),
    "drop after DATA": Faults(drop_after_data=True),
}

#: (agreement id, effective-until, window; 0 for the expiry notice, recipient)
Key = tuple[int, date, int, str]


class SimulatedKill(BaseException):
    """The process dies here. Not an Exception, so no `except Exception` of the code
    stops it: run_job only records the run as failed on its way out."""


@dataclass
class KillSwitch:
    """Armed with steps; fires at the next time a run reaches the first armed step.

    "compose": while a digest is composed, before anything of the day is recorded.
    "send": in the transport, when a claimed message is about to go out.
    """

    armed: list[str] = field(default_factory=list)
    fired: list[tuple[date, str]] = field(default_factory=list)
    today: date = FIRST_DAY
    no_compose_kill_on: frozenset[date] = frozenset()

    def reach(self, step: str) -> None:
        if not self.armed or self.armed[0] != step:
            return
        if step == "compose" and self.today in self.no_compose_kill_on:
            return
        self.armed.pop(0)
        self.fired.append((self.today, step))
        raise SimulatedKill(f"killed at {step} on {self.today}")


class KillableTransport(Transport):
    """The real SMTP transport, with the kill switch checked before each send."""

    def __init__(self, inner: Transport, kills: KillSwitch) -> None:
        self.inner = inner
        self.kills = kills

    async def send(self, raw: bytes, envelope: Envelope, message_id: str) -> DeliveryResult:
        self.kills.reach("send")
        return await self.inner.send(raw, envelope, message_id)

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True)
class Segment:
    """An agreement with one effective-until date, from `first_day` to `last_day`."""

    agreement_id: int
    recipient: str
    effective_until: date
    first_day: date
    last_day: date


def expected_reminders(segments: list[Segment]) -> set[Key]:
    """Return the reminders daily runs must send, worked out per agreement directly.

    On the first day of a segment, of the windows already reached (days left <= window)
    only the smallest is sent, or the notice if the agreement lapsed at most
    LOOKBACK_DAYS ago. Every window crossed later in the segment is sent on the day it is
    crossed (days left == window), and the notice on the first day after the last one.
    """
    expected: set[Key] = set()
    for segment in segments:
        until = segment.effective_until

        def add(window: int, *, until: date = until, segment: Segment = segment) -> None:
            expected.add((segment.agreement_id, until, window, segment.recipient))

        left_at_start = (until - segment.first_day).days
        if left_at_start < 0:
            if -left_at_start <= LOOKBACK_DAYS:
                add(0)
            continue
        reached = [window for window in WINDOWS if window >= left_at_start]
        if reached:
            add(min(reached))
        for window in WINDOWS:
            if window < left_at_start and until - timedelta(days=window) <= segment.last_day:
                add(window)
        if until + timedelta(days=1) <= segment.last_day:
            add(0)
    return expected


def portfolio(random_numbers: random.Random) -> list[AgreementInput]:
    """Return AGREEMENTS rows: ACTIVE_SHARE of them end during the soak, the others
    lapsed long before it or end years after it."""
    rows = []
    names = sorted(COUNTRIES)
    last_day = FIRST_DAY + timedelta(days=DAYS)
    for index in range(AGREEMENTS):
        share = random_numbers.random()
        if share < ACTIVE_SHARE:
            until = FIRST_DAY + timedelta(days=random_numbers.randrange(-45, DAYS + 200))
        elif share < 0.5:
            until = FIRST_DAY - timedelta(days=random_numbers.randrange(46, 5 * 365))
        else:
            until = last_day + timedelta(days=random_numbers.randrange(200, 10 * 365))
        country = names[index % len(names)]
        rows.append(row(f"Partner University {index}", country, until, line=index + 2))
    return rows


def row(partner: str, country: str, until: date, *, line: int) -> AgreementInput:
    """Return a validated table row for `partner`, concluded five years before `until`."""
    return agreement_input(
        partner,
        country=country,
        country_code=COUNTRIES[country][0],
        programme=PROGRAMME,
        programme_key=normalize_key(PROGRAMME),
        concluded=until.replace(year=until.year - 5, day=min(until.day, 28)),
        effective_until=until,
        source_file="agreements.csv",
        source_line=line,
    )


def soak_config(database_url: str, server: SmtpTestServer, outbox: Path) -> Config:
    """Return the config: coordinators by country, SMTP in clear to `server`."""
    smtp = client_config(server, None, security="none", username=None, timeout_seconds=5)
    coordinators: dict[str, list[str]] = defaultdict(list)
    for code, email in COUNTRIES.values():
        if email != DEFAULT_RECIPIENT:
            coordinators[email].append(code)
    document = {
        "timezone": "UTC",
        "database": {"url": database_url},
        "reminders": {
            "windows": list(WINDOWS),
            "notify_expired": True,
            "expired_lookback_days": LOOKBACK_DAYS,
            "default_recipient": DEFAULT_RECIPIENT,
        },
        "coordinators": [
            {"name": email.split("@")[0].title(), "email": email, "countries": codes}
            for email, codes in coordinators.items()
        ],
        "mail": {"transport": "smtp", "from": f"Reminders <{SENDER}>", "outbox_dir": str(outbox)},
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": "none",
            "timeout_seconds": smtp.timeout_seconds,
        },
    }
    return build_config(document, None, {})


@dataclass
class Process:
    """One simulated process: its Context, thrown away whole when it is killed."""

    config: Config
    kills: KillSwitch
    context: Context = field(init=False)
    database: Database = field(init=False)

    def __post_init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.database = open_database(self.config.database.url)

        def transport() -> Transport:
            inner = open_transport(self.config.mail, self.config.smtp, password=None)
            return KillableTransport(inner, self.kills)

        def attachments(digest: ReminderDigest) -> list[Attachment]:
            self.kills.reach("compose")
            return []

        self.context = Context(
            self.config,
            self.database,
            Renderer(),
            open_transport=transport,
            attachments=attachments,
        )

    def restart(self) -> None:
        self.database.close()
        self.start()

    def run_day(self, day: date, now: datetime) -> bool:
        """Run the reminder job for `day`; return False when the run was killed."""
        self.kills.today = day
        try:
            asyncio.run(run_job(self.context, "reminders", as_of=day, now=now))
        except SimulatedKill:
            self.restart()
            return False
        return True


def renew(
    database: Database,
    day: date,
    candidates: list[tuple[int, AgreementInput]],
    random_numbers: random.Random,
) -> list[tuple[int, AgreementInput]]:
    """Re-import corrected rows for some agreements whose end is 1 to 200 days away.

    Returns (agreement id, corrected row) of those renewed.
    """
    near = [
        (agreement_id, current)
        for agreement_id, current in candidates
        if 0 < (current.effective_until - day).days <= 200
    ]
    chosen = random_numbers.sample(near, min(RENEWALS_PER_DAY, len(near)))
    corrected = [
        (
            agreement_id,
            replace(current, effective_until=current.effective_until + RENEWAL_EXTENSION),
        )
        for agreement_id, current in chosen
    ]
    with database.session() as session:
        outcome = store.apply_import(
            session,
            [new for _, new in corrected],
            now=datetime.combine(day, datetime.min.time(), tzinfo=UTC),
            actor="office",
        )
    assert outcome.updated == len(corrected)
    return corrected


def ledger_keys(database: Database) -> dict[str, list[Key]]:
    """Return the reminders each recorded message carries, by Message-ID."""
    carried: dict[str, list[Key]] = {}
    with database.session(read_only=True) as session:
        for message_id, dedup_key in session.execute(select(Message.message_id, Message.dedup_key)):
            keys = []
            for text in dedup_key.split("|")[1:]:
                agreement_id, until, window, recipient = text.split("/", 3)
                keys.append((int(agreement_id), date.fromisoformat(until), int(window), recipient))
            carried[message_id] = keys
    return carried


def received_by_message_id(
    messages: tuple[ReceivedMessage, ...],
) -> dict[str, list[ReceivedMessage]]:
    """Return the copies the server kept of each message, in arrival order."""
    copies: dict[str, list[ReceivedMessage]] = defaultdict(list)
    for message in messages:
        copies[str(message.parse()["Message-ID"])].append(message)
    return copies


def kill_plan(random_numbers: random.Random) -> dict[date, str]:
    """Return the days a kill is armed, each with its step; never the first day."""
    days = random_numbers.sample(range(1, DAYS), KILLS)
    return {
        FIRST_DAY + timedelta(days=offset): random_numbers.choice(("compose", "send"))
        for offset in sorted(days)
    }


def morning(day: date, hours: int = 8) -> datetime:
    """Return `day` at `hours` o'clock UTC: when the day's run starts."""
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hours)


@dataclass
class Soak:
    """The simulation: the portfolio as the office keeps it, and what happened to it."""

    process: Process
    random_numbers: random.Random
    current: dict[int, AgreementInput] = field(default_factory=dict)
    since: dict[int, date] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    renewed: int = 0
    killed_runs: int = 0

    def import_portfolio(self, rows: list[AgreementInput]) -> None:
        database = self.process.database
        with database.session() as session:
            store.apply_import(session, rows, now=morning(FIRST_DAY, 0), actor="office")
        with database.session(read_only=True) as session:
            ids = {view.partner: view.id for view in store.iter_agreement_views(session)}
        self.current = {ids[item.partner]: item for item in rows}
        self.since = dict.fromkeys(self.current, FIRST_DAY)

    def renew_some(self, day: date) -> None:
        renewed = renew(
            self.process.database, day, sorted(self.current.items()), self.random_numbers
        )
        for agreement_id, item in renewed:
            self.close_segment(agreement_id, day - timedelta(days=1))
            self.current[agreement_id], self.since[agreement_id] = item, day
        self.renewed += len(renewed)

    def close_segment(self, agreement_id: int, last_day: date) -> None:
        item = self.current[agreement_id]
        recipient = COUNTRIES[item.country][1]
        self.segments.append(
            Segment(
                agreement_id, recipient, item.effective_until, self.since[agreement_id], last_day
            )
        )

    def run(self, day: date, now: datetime) -> None:
        if not self.process.run_day(day, now):
            self.killed_runs += 1


def test_a_year_of_daily_runs_with_faults_and_kills(tmp_path: Path) -> None:
    started = time.monotonic()
    random_numbers = random.Random(SEED)
    faults = RandomFaults(FAULT_KINDS, rate=FAULT_RATE, seed=SEED)
    renewal_days = {
        FIRST_DAY + timedelta(days=offset) for offset in range(RENEWAL_EVERY, DAYS, RENEWAL_EVERY)
    }
    # A kill before the day's decisions are recorded defers them to the next day; on the
    # eve of a renewal they would then be judged against the renewed date.
    kills = KillSwitch(
        no_compose_kill_on=frozenset(day - timedelta(days=1) for day in renewal_days)
    )
    kill_days = kill_plan(random_numbers)
    last_day = FIRST_DAY + timedelta(days=DAYS - 1)
    with SmtpTestServer("none", credentials=None, fault_plan=faults) as server:
        config = soak_config(f"sqlite:///{tmp_path / 'reminder.sqlite3'}", server, tmp_path)
        soak = Soak(Process(config, kills), random_numbers)
        soak.import_portfolio(portfolio(random_numbers))
        for offset in range(DAYS):
            day = FIRST_DAY + timedelta(days=offset)
            if day in renewal_days:
                soak.renew_some(day)
            if day in kill_days:
                kills.armed.append(kill_days[day])
            soak.run(day, morning(day))
        # The restart after the last day: the server is healed, the day runs again (a
        # catch-up), and two days later whatever is still pending goes out.
        faults.enabled = False
        kills.armed.clear()
        soak.process.restart()
        soak.run(last_day, morning(last_day, 20))
        soak.run(last_day, morning(last_day + timedelta(days=2)))
        for agreement_id in soak.current:
            soak.close_segment(agreement_id, last_day)
        with soak.process.database.session(read_only=True) as session:
            counts = store.message_counts(session)
        carried = ledger_keys(soak.process.database)
        soak.process.database.close()
        received = received_by_message_id(server.messages)
        sessions = server.session_count

    expected = expected_reminders(soak.segments)
    tally = Tally.of(received, carried)
    missing, unexpected = expected - set(tally.delivered), set(tally.delivered) - expected
    print(
        f"\nsoak: {DAYS} days, {AGREEMENTS} agreements, {soak.renewed} renewed, "
        f"{time.monotonic() - started:.0f} s\n"
        f"  reminders expected {len(expected)}, delivered {len(tally.delivered)}, "
        f"missing {len(missing)}, unexpected {len(unexpected)}, duplicates {tally.duplicates}\n"
        f"  messages: {sum(map(len, received.values()))} received ({len(received)} distinct), "
        f"{tally.dropped_after_data} dropped after DATA; ledger {counts}\n"
        f"  faults injected {sum(faults.injected.values())} in {sessions} sessions: "
        f"{dict(sorted(faults.injected.items()))}\n"
        f"  kills {len(kills.fired)}: {[f'{day} {step}' for day, step in kills.fired]}"
    )
    assert not missing, f"{len(missing)} expected reminders never came: {sorted(missing)[:5]}"
    assert not unexpected, f"{len(unexpected)} reminders came unasked: {sorted(unexpected)[:5]}"
    assert not tally.problems, tally.problems[:5]
    assert set(counts) == {"sent"}, counts
    # What makes the soak worth its minutes: every kind of fault and every kill happened.
    assert len(kills.fired) == soak.killed_runs == KILLS
    assert set(faults.injected) == set(FAULT_KINDS)
    assert abs(sum(faults.injected.values()) - FAULT_RATE * sessions) <= RandomFaults.BLOCK
    assert tally.duplicates > 0 and soak.renewed > 100 and len(expected) > 1000


@dataclass
class Tally:
    """What arrived: each reminder's copies, and whatever broke the rules on twins."""

    delivered: Counter[Key]
    duplicates: int
    dropped_after_data: int
    problems: list[str]

    @classmethod
    def of(cls, received: dict[str, list[ReceivedMessage]], carried: dict[str, list[Key]]) -> Tally:
        """Count the reminders in `received`, read from the ledger's `carried`.

        A reminder may arrive more than once only as copies of one message (one
        Message-ID), and every copy but the last must have been dropped after DATA.
        """
        delivered: Counter[Key] = Counter()
        message_of: dict[Key, str] = {}
        problems = []
        for message_id, copies in received.items():
            if message_id not in carried:
                problems.append(f"{message_id} arrived but the ledger has no such message")
                continue
            acknowledged = [copy.acknowledged for copy in copies]
            if any(acknowledged[:-1]) or not acknowledged[-1]:
                problems.append(f"{message_id}: copies acknowledged {acknowledged}")
            for key in carried[message_id]:
                delivered[key] += len(copies)
                if message_of.setdefault(key, message_id) != message_id:
                    problems.append(f"{key} came in {message_of[key]} and in {message_id}")
        dropped = sum(not copy.acknowledged for copies in received.values() for copy in copies)
        duplicates = sum(count - 1 for count in delivered.values())
        return cls(delivered, duplicates, dropped, problems)
