"""A reminder run killed at any point loses nothing and sends nothing twice, except
a message the server had already taken when the process died: that one may arrive a
second time, with the same Message-ID and the same bytes.

`reminder run-once` runs as a subprocess against an SQLite file and the in-process SMTP
server, and is killed with SIGKILL while the server holds it up. The runs after it must
deliver every due digest. A message the dead process had claimed stays claimed until
the lease runs out (delivery.claim_lease): a later run leaves it alone until then and sends
it afterwards. Rather than wait minutes for the lease, the test makes that later run
in-process with `now` past the lease, which is exactly what a run that late sees.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from smtp_server import PASSWORD, USERNAME, Faults, SmtpTestServer, StartSmtpServer

from reminder import store
from reminder.cli.mail import build_context
from reminder.config.loading import load_config
from reminder.importing.rows import read_table
from reminder.runs.delivery import claim_lease
from reminder.runs.job import run_job
from reminder.runs.report import RunReport
from reminder.store.database import open_database

SAMPLE = Path(__file__).parents[2] / "examples" / "agreements-2022.tsv"
AS_OF = date(2022, 1, 17)
# Long enough that the process is still waiting on the server when it is killed.
STUCK_TIMEOUT_SECONDS = 30
WAIT_LIMIT_SECONDS = 20

CONFIG = """\
timezone = "Europe/Istanbul"

[database]
url = "sqlite:///{database}"

[agreements]
default_programme = "Mevlana"

[reminders]
default_recipient = "international@example.edu"

[[coordinators]]
name = "Ayse Yilmaz"
email = "ayse.yilmaz@example.edu"
countries = ["AZ", "GE", "KZ", "KG", "MN", "RU", "UA"]

[mail]
transport = "smtp"
from = "Agreement reminders <reminder@example.edu>"

[smtp]
host = "{host}"
port = {port}
username = "{username}"
password_file = "{password_file}"
ca_file = "{ca_file}"
timeout_seconds = {timeout}
"""


@dataclass(frozen=True)
class Setup:
    """An SQLite file holding the sample table, and configs that use it."""

    folder: Path
    database: Path
    ca_file: Path

    def config_file(self, server: SmtpTestServer, name: str, timeout_seconds: int) -> Path:
        """Write a config sending through `server`; return its path."""
        password_file = self.folder / "smtp-password"
        password_file.write_text(PASSWORD, encoding="utf-8")
        path = self.folder / f"{name}.toml"
        text = CONFIG.format(
            database=self.database,
            host=server.host,
            port=server.port,
            username=USERNAME,
            password_file=password_file,
            ca_file=self.ca_file,
            timeout=timeout_seconds,
        )
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def setup(tmp_path: Path, smtp_ca_file: Path) -> Setup:
    database = tmp_path / "reminder.sqlite3"
    table = read_table(SAMPLE, term_years=5, default_programme="Mevlana")
    with (
        open_database(f"sqlite:///{database}", migrate=True) as opened,
        opened.session() as session,
    ):
        store.apply_import(session, table.rows, now=datetime.now(UTC), actor="test")
    return Setup(tmp_path, database, smtp_ca_file)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def run_once_then_kill(
    setup: Setup, server: SmtpTestServer, env: dict[str, str], until: Callable[[], bool]
) -> None:
    """Start `reminder run-once` against `server`; SIGKILL it once `until()` holds."""
    config = setup.config_file(server, "stuck", STUCK_TIMEOUT_SECONDS)
    log_path = setup.folder / "run-once.log"
    command = [sys.executable, "-m", "reminder", "--config", str(config), "run-once"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--as-of", AS_OF.isoformat()],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=setup.folder,
        )
        try:
            wait_for(lambda: until() or process.poll() is not None, "the kill point")
            assert process.poll() is None, log_path.read_text(encoding="utf-8")
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(WAIT_LIMIT_SECONDS)
    assert process.returncode == -signal.SIGKILL


@dataclass(frozen=True)
class Row:
    message_id: str
    state: str
    attempts: int
    claimed_until: datetime | None


def message_rows(database: Path) -> list[Row]:
    """Return the messages as the SQLite file holds them (times are UTC, without zone)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT message_id, state, attempts, claimed_until FROM messages ORDER BY id"
        ).fetchall()
    return [
        Row(
            message_id,
            state,
            attempts,
            None if claimed is None else datetime.fromisoformat(claimed).replace(tzinfo=UTC),
        )
        for message_id, state, attempts, claimed in rows
    ]


def ledger_size(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM reminders").fetchone()[0])


def recover(setup: Setup, server: SmtpTestServer, *at: datetime) -> list[RunReport]:
    """Run the reminder job in-process through `server` once at each time in `at`."""
    config = load_config(str(setup.config_file(server, "healthy", 5)), {})
    with open_database(config.database.url) as database:
        context = build_context(config, database)
        return [asyncio.run(run_job(context, "reminders", as_of=AS_OF, now=now)) for now in at]


@dataclass(frozen=True)
class KillPoint:
    """Where the server holds the process up when it is killed."""

    faults: Faults
    reached: Callable[[SmtpTestServer], bool]
    server_kept_it: bool = False


KILL_POINTS = {
    # Connected, waiting for the greeting: every decision recorded, one message claimed.
    "while-connecting": KillPoint(
        Faults(stall_greeting=True), lambda server: server.session_count > 0
    ),
    # In the transaction, before the body: the server has nothing yet.
    "before-data": KillPoint(
        Faults(reply_delay_seconds=STUCK_TIMEOUT_SECONDS), lambda server: "MAIL" in server.verbs()
    ),
    # The body went out and the server kept it, but never said so.
    "after-data": KillPoint(
        Faults(stall_after_data=True), lambda server: len(server.messages) > 0, True
    ),
}


@pytest.mark.parametrize("kill_point", KILL_POINTS.values(), ids=list(KILL_POINTS))
def test_a_killed_run_loses_nothing_and_the_next_runs_deliver_each_digest(
    kill_point: KillPoint,
    setup: Setup,
    start_smtp_server: StartSmtpServer,
    cli_env: dict[str, str],
) -> None:
    stuck = start_smtp_server(faults=kill_point.faults)

    run_once_then_kill(setup, stuck, cli_env, lambda: kill_point.reached(stuck))
    killed_at = datetime.now(UTC)

    # Every decision was recorded before the first SMTP conversation began.
    assert ledger_size(setup.database) == 10 + 14
    rows = message_rows(setup.database)
    assert [(row.state, row.attempts) for row in rows] == [("pending", 0)] * 2
    (claimed,) = [row for row in rows if row.claimed_until is not None]
    (waiting,) = [row for row in rows if row.claimed_until is None]
    assert claimed.claimed_until is not None
    lease = claim_lease(load_config(str(setup.folder / "stuck.toml"), {}).smtp)
    assert killed_at - timedelta(seconds=WAIT_LIMIT_SECONDS) < claimed.claimed_until - lease
    assert claimed.claimed_until - lease < killed_at
    healthy = start_smtp_server()

    soon, late = recover(
        setup, healthy, datetime.now(UTC), claimed.claimed_until + timedelta(seconds=1)
    )

    # Right after the crash the claim holds: only the other message goes out.
    assert [outcome.message_id for outcome in soon.delivery.messages] == [waiting.message_id]
    # It is reported as claimed, not as waiting: the claim is still held.
    assert (soon.delivery.pending, soon.delivery.sending, soon.exit_status) == (0, 1, 1)
    # Once the lease has run out, the claimed one goes too.
    assert [outcome.message_id for outcome in late.delivery.messages] == [claimed.message_id]
    assert late.exit_status == 0
    delivered = Counter(m.parse()["Message-ID"] for m in healthy.messages)
    assert delivered == {waiting.message_id: 1, claimed.message_id: 1}
    if kill_point.server_kept_it:
        # The only duplicate possible: the very same message, byte for byte.
        (half_sent,) = stuck.messages
        assert not half_sent.acknowledged
        assert half_sent.parse()["Message-ID"] == claimed.message_id
        (again,) = [m for m in healthy.messages if m.parse()["Message-ID"] == claimed.message_id]
        assert again.raw == half_sent.raw
    else:
        assert stuck.messages == ()
    settled = message_rows(setup.database)
    assert [(row.state, row.attempts, row.claimed_until) for row in settled] == [
        ("sent", 1, None)
    ] * 2
    assert ledger_size(setup.database) == 10 + 14
