"""(c) Delivery: a whole reminder run to an SMTP sink against the libraries in a plain loop.

Ours is run_job for one day: decide, render, record, then claim, send and record each
message over one connection. The floor is what a minimal script using only the
libraries would do with the same digests (planned before it starts, untimed): render
the same templates with Jinja2, inline the CSS with css-inline, build the message with
the email package and its calendar with icalendar, and send it with aiosmtplib over one
connection, with no ledger. The ratio is what our run adds over the libraries: the
planning, the ledger and its transactions. Both go to the same sink, a separate
process (bench.sink).

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
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr

import aiosmtplib
import css_inline
import jinja2

from bench.databases import Target, clear_ledger
from bench.processes import child_environment
from bench.stats import Samples, timed
from reminder.cli.mail import build_context
from reminder.config.schema import Config
from reminder.domain.reminder_digest import ReminderDigest
from reminder.domain.wording import ENGLISH
from reminder.mail.calendar import digest_attachments
from reminder.mail.render import packaged_templates_dir, template_filters
from reminder.runs.context import Context
from reminder.runs.job import run_job
from reminder.runs.planning import plan_reminders
from reminder.runs.report import RunReport


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
    # The floor gets the digests our run will send, decided against the same ledger.
    digests = plan_reminders(context, day).digests
    report, seconds = timed(lambda: run_day(context, day))
    if report.delivery.pending or report.delivery.failed:
        raise RuntimeError(f"the run for {day} left messages undelivered: {report.summary}")
    figures.ours.add(seconds)
    figures.digests, figures.due = report.delivery.sent, report.due
    now = datetime.combine(day, time(8), tzinfo=UTC)
    sent, seconds = timed(lambda: asyncio.run(plain_loop(context.config, digests, now)))
    if sent != figures.digests:
        raise RuntimeError(f"the floor sent {sent} digests for {day}, our run {figures.digests}")
    figures.floor.add(seconds)


async def plain_loop(config: Config, digests: list[ReminderDigest], now: datetime) -> int:
    """Render, build and send each of `digests` with the libraries alone; return how many.

    The floor of delivery: the packaged templates through a Jinja2 environment set up
    as their documentation shows (with the filters the templates use), css-inline on
    each HTML document, an EmailMessage written by the email package with the calendar
    icalendar writes, and aiosmtplib over one connection. No ledger, no claims.
    """
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(packaged_templates_dir()),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    environment.filters.update(template_filters(ENGLISH))
    subject, text, html = (
        environment.get_template(f"reminder-{name}")
        for name in ("subject.txt", "body.txt", "body.html")
    )
    inliner = css_inline.CSSInliner(
        keep_style_tags=False, keep_link_tags=False, load_remote_stylesheets=False
    )
    sender = parseaddr(config.mail.sender)[1]
    client = aiosmtplib.SMTP(
        hostname=config.smtp.host, port=config.smtp.port, start_tls=False, timeout=120
    )
    await client.connect()
    try:
        for digest in digests:
            values = {"digest": digest}
            message = EmailMessage(policy=SMTP)
            message["From"] = config.mail.sender
            message["To"] = Address(digest.recipient.name, addr_spec=digest.recipient.email)
            message["Subject"] = " ".join(subject.render(values).split())
            message["Date"] = format_datetime(now)
            message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
            message.set_content(text.render(values))
            message.add_alternative(inliner.inline(html.render(values)), subtype="html")
            calendar = digest_attachments(
                digest, organizer=config.mail.sender, windows=config.reminders.windows
            )[0]
            message.add_attachment(
                calendar.content,
                maintype="text",
                subtype="calendar",
                filename=calendar.filename,
                params=calendar.params,
            )
            await client.sendmail(sender, [digest.recipient.email], message.as_bytes())
    finally:
        await client.quit()
    return len(digests)
