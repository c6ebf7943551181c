"""`reminder serve` as systemd runs it: a subprocess, sd_notify on a real datagram
socket, signals, two instances against one database, a catch-up after an outage.

Mail goes to the in-process SMTP server; agreements end relative to the real today,
since the service runs for the day it is started on.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from e2e.clirun import RunCli
from smtp_server import PASSWORD, USERNAME, Faults, SmtpTestServer, StartSmtpServer
from sqlalchemy import select, update

from reminder import store
from reminder.config.loading import load_config
from reminder.importing.pipeline import import_tables, open_tables
from reminder.store.database import open_database
from reminder.store.models import JobRun, Message

ZONE = ZoneInfo("Europe/Istanbul")
AYSE = "ayse.yilmaz@example.edu"
MEHMET = "mehmet.demir@example.edu"
TAKEOVER_SECONDS = 5
STARTUP_SECONDS = 20


# --- the parts -------------------------------------------------------------------------


class NotifySocket:
    """A unix datagram socket standing in for systemd's, on an abstract name.

    A thread reads it all the time, as systemd does: a full socket queue would make
    the service's notifications fail.
    """

    def __init__(self) -> None:
        self.name = f"@reminder-test-{secrets.token_hex(6)}"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind("\0" + self.name[1:])
        self._socket.settimeout(0.1)
        self._arrived = threading.Condition()
        self._closing = False
        self.datagrams: list[tuple[float, list[str]]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closing:
            try:
                payload = self._socket.recv(4096)
            except TimeoutError:
                continue
            with self._arrived:
                self.datagrams.append((time.monotonic(), payload.decode().split("\n")))
                self._arrived.notify_all()

    def close(self) -> None:
        self._closing = True
        self._reader.join()
        self._socket.close()

    def wait_for(self, line: str, *, after: float = 0.0, timeout: float = STARTUP_SECONDS) -> float:
        """Return when a datagram holding `line` arrived after `after` (monotonic time)."""

        def arrival() -> float | None:
            return next((at for at, lines in self.datagrams if at > after and line in lines), None)

        with self._arrived:
            if not self._arrived.wait_for(lambda: arrival() is not None, timeout):
                raise AssertionError(f"no {line!r} from the service; got {self.datagrams}")
            found = arrival()
            assert found is not None
            return found


class Serve:
    """`reminder serve` (or `command`) in a subprocess, its log in a file."""

    def __init__(
        self, config: Path, env: dict[str, str], log: Path, command: str = "serve"
    ) -> None:
        self.log_path = log
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "reminder", "--config", str(config), command],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def wait_for_log(self, pattern: str, *, timeout: float = STARTUP_SECONDS) -> float:
        """Return the monotonic time at which the log first held `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log):
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in the log:\n{self.log}")
            time.sleep(0.05)
        return time.monotonic()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def start_serve(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    """Yield a function starting `reminder serve --config CONFIG`; all are killed after."""
    started: list[Serve] = []

    def start(config: Path, notify: NotifySocket | None = None, **env: str) -> Serve:
        environment = {**cli_env, **env}
        if notify is not None:
            environment["NOTIFY_SOCKET"] = notify.name
        serve = Serve(config, environment, tmp_path / f"serve-{len(started)}.log")
        started.append(serve)
        return serve

    yield start
    for serve in started:
        if serve.process.poll() is None:
            serve.process.kill()
            serve.process.wait()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    notify = NotifySocket()
    yield notify
    notify.close()


def write_config(
    path: Path,
    database_url: str,
    server: SmtpTestServer,
    ca_file: Path,
    *,
    windows: Sequence[int] = (180, 90, 30, 7),
    reminders_cron: str = "* * * * *",
    digest_cron: str = "0 8 * * mon",
) -> Path:
    """Write a config sending through `server`; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    password_file = path.with_name("smtp-password")
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    path.write_text(
        f"""timezone = "Europe/Istanbul"
[database]
url = "{database_url}"
[reminders]
windows = {list(windows)}
[[coordinators]]
name = "Ayşe Yilmaz"
email = "{AYSE}"
countries = ["GE"]
[[coordinators]]
name = "Mehmet Demir"
email = "{MEHMET}"
countries = ["JP"]
[mail]
transport = "smtp"
from = "Agreement reminders <reminder@example.edu>"
[smtp]
host = "{server.host}"
port = {server.port}
security = "starttls"
username = "{USERNAME}"
password_file = "{password_file}"
ca_file = "{ca_file}"
timeout_seconds = 5
[schedule]
reminders = "{reminders_cron}"
digest = "{digest_cron}"
retry_minutes = 1
[ha]
takeover_seconds = {TAKEOVER_SECONDS}
""",
        encoding="utf-8",
    )
    return path


def today() -> date:
    return datetime.now(ZONE).date()


def daily_at(hours_from_now: float) -> str:
    """Return a cron line firing daily at the local time `hours_from_now` hours away."""
    moment = datetime.now(ZONE) + timedelta(hours=hours_from_now)
    return f"{moment.minute} {moment.hour} * * *"


def import_agreements(config: Path, days_left: dict[str, int]) -> None:
    """Import one agreement per "Country/Partner", ending `days_left` days from today.

    In this process, as `reminder import` does it (that command has tests of its own),
    upgrading a server database's schema on the way.
    """
    table = config.with_name("agreements.csv")
    lines = ["University;Country;Conclusion date;Effective until"]
    for key, left in days_left.items():
        country, partner = key.split("/")
        until = today() + timedelta(days=left)
        concluded = until.replace(year=until.year - 5)
        lines.append(f"{partner};{country};{concluded:%d.%m.%Y};{until:%d.%m.%Y}")
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_config(str(config))
    with open_database(settings.database.url, migrate=True) as database:
        report = import_tables(
            database,
            open_tables([table], settings),
            now=datetime.now(UTC),
            skip_invalid=False,
            dry_run=False,
        )
    assert report.written and not report.problems, report.problems


def kinds_by_recipient(server: SmtpTestServer) -> Counter[tuple[str, str]]:
    """Return how many messages of each kind (reminder, weekly) each recipient got."""
    received: Counter[tuple[str, str]] = Counter()
    for message in server.messages:
        kind = str(message.parse()["Message-ID"]).strip("<").split(".")[0]
        for recipient in message.recipients:
            received[(recipient, kind)] += 1
    return received


def wait_until(check: Callable[[], bool], what: str, timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def finished_runs(database_url: str, since: datetime) -> list[tuple[str, date, str]]:
    """Return (job, as_of, outcome) of the runs that started at or after `since` and ended."""
    with open_database(database_url) as database, database.session(read_only=True) as session:
        rows = session.execute(
            select(JobRun.job, JobRun.as_of, JobRun.outcome)
            .where(JobRun.started_at >= since, JobRun.outcome != "running")
            .order_by(JobRun.id)
        )
        return [(job, as_of, outcome) for job, as_of, outcome in rows]


def message_states(database_url: str) -> dict[str, str]:
    """Return each recorded message's Message-ID and state."""
    with open_database(database_url) as database, database.session(read_only=True) as session:
        rows = session.execute(select(Message.message_id, Message.state))
        return {message_id: str(state) for message_id, state in rows}


def received_ids(server: SmtpTestServer) -> list[str]:
    return [str(m.parse()["Message-ID"]) for m in server.messages]


# --- one service: sd_notify, reloads, stopping -------------------------------------------


def test_notifies_reloads_and_stops_mid_send_with_nothing_lost(
    tmp_path: Path,
    run_cli: RunCli,
    start_smtp_server: StartSmtpServer,
    smtp_ca_file: Path,
    start_serve: Callable[..., Serve],
    notify_socket: NotifySocket,
) -> None:
    # A slow server: each send takes a second or so, long enough to stop in the middle.
    server = start_smtp_server(faults=Faults(reply_delay_seconds=0.3))
    url = f"sqlite:///{tmp_path / 'state' / 'reminder.sqlite3'}"
    config = write_config(tmp_path / "config.toml", url, server, smtp_ca_file, windows=[7])
    import_agreements(config, {"GE/Tbilisi State University": 20, "JP/Kyoto University": 5})

    serve = start_serve(config, notify_socket, WATCHDOG_USEC="2000000")
    ready = notify_socket.wait_for("READY=1")
    # The first start has no run recorded: the reminder and digest runs happen now.
    # With a 7-day window only Mehmet's agreement is expiring; Ayşe's weekly digest
    # would be empty, and empty ones are not sent.
    wait_until(lambda: len(server.messages) == 2, "the first runs' two messages")
    assert kinds_by_recipient(server) == {(MEHMET, "reminder"): 1, (MEHMET, "weekly"): 1}
    # WATCHDOG_USEC is 2 s: a ping each second, from the event loop.
    first_ping = notify_socket.wait_for("WATCHDOG=1", after=ready, timeout=3)
    notify_socket.wait_for("WATCHDOG=1", after=first_ping, timeout=3)
    for message in server.messages:
        key = str(message.parse()["Message-ID"])
        serve.wait_for_log(rf"message {re.escape(key)} \(\S+\) to .*: sent")

    # A broken config: the reload is refused and the service goes on.
    good_text = config.read_text(encoding="utf-8")
    config.write_text(good_text.replace("windows = [7]", 'windows = "seven"'), encoding="utf-8")
    sent_at = time.monotonic()
    serve.process.send_signal(signal.SIGHUP)
    serve.wait_for_log(r"reload refused, the running configuration stays: .*reminders\.windows")
    reloading = notify_socket.wait_for("RELOADING=1", after=sent_at)
    assert any(
        arrived == reloading and any(line.startswith("MONOTONIC_USEC=") for line in lines)
        for arrived, lines in notify_socket.datagrams
    )
    notify_socket.wait_for("READY=1", after=reloading)
    assert serve.process.poll() is None

    # A valid config with a 30-day window: Ayşe's agreement (20 days left) is due at the
    # next run, the tick at the start of the next minute.
    config.write_text(good_text.replace("windows = [7]", "windows = [30, 7]"), encoding="utf-8")
    serve.process.send_signal(signal.SIGHUP)
    serve.wait_for_log(r"configuration reloaded from")
    connections = server.session_count
    wait_until(lambda: server.session_count > connections, "the next run's delivery", timeout=75)

    # SIGTERM while that run talks to the server: it ends the send, then the process.
    stop_at = time.monotonic()
    assert serve.stop() == 0
    assert time.monotonic() - stop_at < 30
    notify_socket.wait_for("STOPPING=1", after=stop_at, timeout=1)
    assert re.search(r"reminders run \(scheduled\) for \S+: ok; 1 due", serve.log)
    # Nothing lost: each message recorded went out once, or is pending for the next run.
    states = message_states(url)
    assert len(states) == 3
    assert set(states.values()) <= {"sent", "pending"}
    sent = sorted(key for key, state in states.items() if state == "sent")
    assert sorted(received_ids(server)) == sent
    result = run_cli("--config", config, "run-once")
    assert result.returncode == 0, result.stderr
    assert set(message_states(url).values()) == {"sent"}
    assert kinds_by_recipient(server) == {
        (MEHMET, "reminder"): 1,
        (MEHMET, "weekly"): 1,
        (AYSE, "reminder"): 1,
    }
    assert "Traceback" not in serve.log
    assert PASSWORD not in serve.log


# --- catch-up after downtime -------------------------------------------------------------


def test_after_a_three_day_outage_one_catch_up_run_sends_each_due_reminder_once(
    tmp_path: Path,
    run_cli: RunCli,
    smtp_server: SmtpTestServer,
    smtp_ca_file: Path,
    start_serve: Callable[..., Serve],
    notify_socket: NotifySocket,
) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'reminder.sqlite3'}"
    # Daily runs at the time of day three hours ago: that run was missed today, and
    # the next one is hours away, so no tick happens during the test.
    daily = daily_at(-3)
    config = write_config(
        tmp_path / "config.toml",
        url,
        smtp_server,
        smtp_ca_file,
        reminders_cron=daily,
        digest_cron=daily,
    )
    # Both crossed a window during the outage: Ayşe's the 30-day one two days ago,
    # Mehmet's the 7-day one two days ago.
    import_agreements(
        config,
        {"GE/Tbilisi State University": 28, "JP/Kyoto University": 5, "GE/Ilia University": 400},
    )
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    with open_database(url) as database, database.session() as session:
        for job in ("reminders", "digest"):
            as_of = three_days_ago.astimezone(ZONE).date()
            run_id = store.start_job_run(session, job, as_of, now=three_days_ago)
            store.finish_job_run(session, run_id, outcome="ok", summary="", now=three_days_ago)
    started = datetime.now(UTC)
    # The monitoring check sees the outage: the last run is older than the one due.
    health = run_cli("--config", config, "health")
    assert health.returncode == 1
    assert health.stdout.startswith("UNHEALTHY: no completed reminder run for ")
    assert health.stdout.count("\n") == 1

    serve = start_serve(config, notify_socket)
    notify_socket.wait_for("READY=1")
    wait_until(lambda: len(finished_runs(url, started)) >= 3, "the catch-up runs and sweep")
    health = run_cli("--config", config, "health")
    assert (health.returncode, health.stdout[:3]) == (0, "OK:"), health.stdout
    # Two more role checks (1.25 s apart): nothing else runs.
    time.sleep(3)
    assert serve.stop() == 0

    runs = finished_runs(url, started)
    assert [(job, as_of) for job, as_of, _ in runs] == [
        ("reminders", today()),
        ("digest", today()),
        ("retry", today()),
    ]
    assert all(outcome == "ok" for _, _, outcome in runs)
    assert kinds_by_recipient(smtp_server) == {
        (AYSE, "reminder"): 1,
        (MEHMET, "reminder"): 1,
        (AYSE, "weekly"): 1,
        (MEHMET, "weekly"): 1,
    }
    assert len(re.findall(r"has not happened: running it now", serve.log)) == 2


# --- two instances against one database --------------------------------------------------


def roles_in_status(run_cli: RunCli, config: Path, database_url: str) -> dict[int, str]:
    """Return the role of each running instance by pid, as `reminder status` shows them.

    The command runs on SQLite; on the servers the same rows are read in this process
    (a command's start costs seconds, and the output does not depend on the database).
    """
    if database_url.startswith("sqlite"):
        result = run_cli("--config", config, "status", "--json")
        assert result.returncode == 0, result.stderr
        status: dict[str, Any] = json.loads(result.stdout)
        assert [job["job"] for job in status["jobs"]] == ["reminders", "digest", "retry"]
        assert all(job["next_run"] for job in status["jobs"])
        assert status["messages"]["pending"] == 4
        return {i["pid"]: i["role"] for i in status["instances"]}
    since = datetime.now(UTC) - timedelta(seconds=30)
    with open_database(database_url) as database, database.session(read_only=True) as session:
        return {i.pid: i.role for i in store.live_instances(session, since=since)}


def test_second_instance_stands_by_then_takes_over_and_sends_once(
    tmp_path: Path,
    database_url: str,
    run_cli: RunCli,
    start_smtp_server: StartSmtpServer,
    smtp_ca_file: Path,
    start_serve: Callable[..., Serve],
) -> None:
    # The first instance's server defers everything, so its messages stay pending;
    # the second instance's server accepts them.
    deferring = start_smtp_server(faults=Faults(data_reply="451 4.3.0 Try again later"))
    accepting = start_smtp_server()
    # No tick during the test (a tick's run also retries pending mail): the first runs
    # are the catch-up at start, and the next pass is the one after the takeover.
    later = daily_at(12)
    config_a, config_b = (
        write_config(
            tmp_path / name / "config.toml",
            database_url,
            server,
            smtp_ca_file,
            reminders_cron=later,
            digest_cron=later,
        )
        for name, server in (("a", deferring), ("b", accepting))
    )
    import_agreements(config_a, {"GE/Tbilisi State University": 20, "JP/Kyoto University": 5})
    started = datetime.now(UTC)

    notify_a, notify_b = NotifySocket(), NotifySocket()
    try:
        first = start_serve(config_a, notify_a)
        notify_a.wait_for("READY=1")
        first.wait_for_log("active instance")
        wait_until(lambda: len(finished_runs(database_url, started)) >= 3, "the first runs")
        assert set(message_states(database_url).values()) == {"pending"}

        second = start_serve(config_b, notify_b)
        notify_b.wait_for("READY=1")
        second.wait_for_log("standby: another instance holds the")
        assert roles_in_status(run_cli, config_a, database_url) == {
            first.process.pid: "active",
            second.process.pid: "standby",
        }

        # The retry delay has passed (as if minutes went by): the messages are due again.
        with open_database(database_url) as database, database.session() as session:
            session.execute(update(Message).values(next_attempt_at=datetime.now(UTC)))
        time.sleep(1.3)  # a standby lock attempt (every 1.25 s): the standby sends nothing
        assert accepting.messages == ()

        killed_at = time.monotonic()
        first.process.kill()
        first.process.wait()
        took_over_at = second.wait_for_log("active instance", timeout=TAKEOVER_SECONDS + 5)
        assert took_over_at - killed_at <= TAKEOVER_SECONDS
        wait_until(lambda: len(accepting.messages) == 4, "the pending messages")
        time.sleep(1.3)  # another role check: nothing goes out twice
        assert second.stop() == 0
    finally:
        notify_a.close()
        notify_b.close()

    assert deferring.messages == ()
    assert kinds_by_recipient(accepting) == {
        (AYSE, "weekly"): 1,
        (MEHMET, "weekly"): 1,
        (MEHMET, "reminder"): 1,
        (AYSE, "reminder"): 1,
    }
    states = message_states(database_url)
    assert set(states.values()) == {"sent"}
    assert sorted(received_ids(accepting)) == sorted(states)
    with open_database(database_url) as database, database.session(read_only=True) as session:
        assert store.live_instances(session, since=started) == []
