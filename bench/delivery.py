"""(c) Delivery: a whole reminder run to an SMTP sink against raw aiosmtplib.

Ours is jobs.run_job for one day: decide, record, render, then claim, send and record
each message over one connection. The floor sends the very messages that run recorded
(their stored bytes and envelopes) with aiosmtplib over one connection too, doing
nothing else. Both go to the same sink, a separate process (bench.sink).

Two days are measured, each from an empty ledger: the backlog day (the first run ever:
every agreement already within a window is due) and the day after it (a steady day:
only the agreements that reached a window overnight).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import aiosmtplib
from sqlalchemy import text

from bench.databases import Target, clear_ledger
from bench.processes import child_environment
from bench.stats import Samples, timed
from reminder.cli.mail import build_context
from reminder.config.schema import Config
from reminder.runs.context import Context
from reminder.runs.job import run_job
from reminder.runs.report import RunReport
from reminder.store.database import Database

SENDER = "reminder@example.edu"


@dataclass
class DayFigures:
    """One kind of day: digests sent, and seconds for ours and for the floor."""

    label: str
    digests: int = 0
    due: int = 0
    ours: Samples = field(default_factory=lambda: Samples("s"))
    floor: Samples = field(default_factory=lambda: Samples("s"))

    def rate(self, seconds: Samples) -> Samples:
        """Return digests per second, run by run."""
        return Samples("digests/s", [self.digests / s for s in seconds.values if s > 0])


@dataclass
class DeliveryFigures:
    """The backlog day and the steady day."""

    backlog: DayFigures = field(default_factory=lambda: DayFigures("backlog day"))
    steady: DayFigures = field(default_factory=lambda: DayFigures("steady day"))


@contextmanager
def running_sink() -> Iterator[int]:
    """Start bench.sink in its own process; yield its port; stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sink"],
        stdout=subprocess.PIPE,
        text=True,
        env=child_environment(),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().split()
        if first[:1] != ["port"]:
            raise RuntimeError(f"the SMTP sink did not start: {first}")
        yield int(first[1])
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure_delivery(target: Target, config: Config, day: date, *, repeat: int) -> DeliveryFigures:
    """Run the backlog day (`day` - 1) and the steady day (`day`) `repeat` times each.

    Raises RuntimeError when a run leaves messages unsent (the comparison would be void).
    """
    figures = DeliveryFigures()
    database = target.open()
    try:
        context = build_context(config, database)
        for _ in range(repeat):
            clear_ledger(database)
            _measure_day(context, day - timedelta(days=1), figures.backlog)
            _measure_day(context, day, figures.steady)
    finally:
        database.close()
    return figures


def run_day(context: Context, day: date) -> RunReport:
    """Run the reminder job as of `day` at 08:00 UTC; return its report."""
    now = datetime.combine(day, time(8), tzinfo=UTC)
    return asyncio.run(run_job(context, "reminders", as_of=day, now=now))


def _measure_day(context: Context, day: date, figures: DayFigures) -> None:
    report, seconds = timed(lambda: run_day(context, day))
    if report.delivery.pending or report.delivery.failed:
        raise RuntimeError(f"the run for {day} left messages undelivered: {report.summary}")
    figures.ours.add(seconds)
    figures.digests, figures.due = report.delivery.sent, report.due
    messages = recorded_messages(context.database, day)
    config = context.config
    _, seconds = timed(lambda: asyncio.run(send_raw(config.smtp.host, config.smtp.port, messages)))
    figures.floor.add(seconds)


def recorded_messages(database: Database, day: date) -> list[tuple[bytes, list[str]]]:
    """Return (raw bytes, envelope recipients) of each message recorded for `day`."""
    with database.session(read_only=True) as session:
        rows = session.execute(
            text(
                "SELECT m.raw, r.address FROM messages m "
                "JOIN message_recipients r ON r.message_pk = m.id "
                "WHERE m.as_of = :day ORDER BY m.id, r.id"
            ),
            {"day": day},
        ).all()
    messages: dict[bytes, list[str]] = {}
    for raw, address in rows:
        messages.setdefault(bytes(raw), []).append(address)
    return list(messages.items())


async def send_raw(host: str, port: int, messages: list[tuple[bytes, list[str]]]) -> None:
    """Send `messages` as they are over one connection: the floor of delivery."""
    client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, timeout=120)
    await client.connect()
    try:
        for raw, recipients in messages:
            await client.sendmail(SENDER, recipients, raw)
    finally:
        await client.quit()
