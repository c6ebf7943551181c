"""The service's parts with real things: sd_notify over unix datagram sockets, the
single-instance lock on SQLite, PostgreSQL and MariaDB, roles and heartbeats, a
wall-clock jump in a running service, and the systemd units checked by systemd-analyze.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from factories import agreement_input
from sqlalchemy import select, text
from starlette.testclient import TestClient
from web.webapp import Clock, Site, log_in

from reminder import store
from reminder.cli.mail import build_context
from reminder.cli.service import web_services
from reminder.config.cron import CronSchedule
from reminder.config.loading import build_config
from reminder.config.schema import Config
from reminder.errors import ConfigError
from reminder.runs.context import Context
from reminder.runs.job import run_job
from reminder.service import sdnotify
from reminder.service.daemon import Service, start_scheduler
from reminder.service.lock import FileLock, Role, instance_lock
from reminder.service.schedule import RETRY_JOB, Schedule
from reminder.store.database import Database, open_database
from reminder.store.models import JobRun
from reminder.store.user_models import Role as UserRole
from reminder.web.server import WebServer

UNITS = Path(__file__).parents[2] / "systemd"
NOW = datetime(2025, 6, 5, 9, 0, tzinfo=UTC)


# --- sd_notify --------------------------------------------------------------------------


@pytest.fixture
def short_folder() -> Iterator[Path]:
    """Yield a folder with a short path: a unix socket's path must stay under 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="rn-"))
    yield folder
    shutil.rmtree(folder)


def receive(listener: socket.socket) -> list[str]:
    listener.settimeout(2)
    return listener.recv(4096).decode().split("\n")


def test_notify_sends_one_datagram_to_a_socket_path(short_folder: Path) -> None:
    path = short_folder / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        sent = sdnotify.notify("READY=1", "STATUS=active", environ={"NOTIFY_SOCKET": str(path)})
        assert sent
        assert receive(listener) == ["READY=1", "STATUS=active"]


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"reminder-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        assert sdnotify.notify(*sdnotify.reloading(), environ={"NOTIFY_SOCKET": "@" + name})
        reloading, monotonic = receive(listener)
    assert reloading == "RELOADING=1"
    microseconds = int(monotonic.removeprefix("MONOTONIC_USEC="))
    # CLOCK_MONOTONIC, as systemd reads it: close to this process's view of it.
    assert abs(microseconds / 1e6 - time.monotonic()) < 5


def test_notify_without_a_socket_does_nothing_and_never_blocks(short_folder: Path) -> None:
    assert not sdnotify.notify("READY=1", environ={})
    path = short_folder / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        # Nobody reads: once the socket's queue is full, sends fail at once instead of
        # freezing the caller.
        results = [
            sdnotify.notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": str(path)}) for _ in range(500)
        ]
    assert results[0]
    assert not results[-1]
    assert not sdnotify.notify("READY=1", environ={"NOTIFY_SOCKET": str(short_folder / "gone")})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "2000000"}, 1.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid())}, 60.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),  # meant for another
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(
    environ: dict[str, str], expected: float | None
) -> None:
    assert sdnotify.watchdog_interval(environ) == expected


# --- the single-instance lock -------------------------------------------------------------


def test_a_file_lock_is_held_by_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "x.lock"), FileLock(tmp_path / "x.lock")
    assert first.try_acquire()
    assert first.try_acquire()  # taking it again is a no-op
    assert not second.try_acquire()
    assert f" {os.getpid()}" in (tmp_path / "x.lock").read_text()
    first.release()
    assert not first.is_held()
    assert second.try_acquire()
    assert second.is_held()
    second.release()


def test_a_file_lock_is_released_when_its_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from reminder.service.lock import FileLock; "
            "assert FileLock(Path(sys.argv[1])).try_acquire(); print('held', flush=True); "
            "time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        lock = FileLock(path)
        assert not lock.try_acquire()
        holder.kill()
        holder.wait()
        assert lock.try_acquire()
        lock.release()
    finally:
        holder.kill()
        holder.wait()


def kill_connection_of(database: Database, lock: Any) -> None:
    """End the lock's server connection from outside, as a server restart would."""
    with database.session() as session:
        holder = lock._connection  # the test reaches in: there is no other way to name it
        if database.dialect_name == "postgresql":
            pid = holder.execute(text("SELECT pg_backend_pid()")).scalar()
            session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:
            connection_id = holder.execute(text("SELECT CONNECTION_ID()")).scalar()
            session.execute(text(f"KILL {int(connection_id)}"))


def test_one_process_holds_the_instance_lock_on_every_database(database_url: str) -> None:
    with (
        open_database(database_url, migrate=True) as one,
        open_database(database_url) as other,
    ):
        first, second = instance_lock(one, database_url), instance_lock(other, database_url)
        assert first.try_acquire()
        assert not second.try_acquire()
        assert first.is_held() and not second.is_held()
        first.release()
        assert second.try_acquire()
        assert not first.try_acquire()
        if one.dialect_name == "sqlite":
            second.release()
            return
        # A server connection that ends takes the lock with it: the holder notices.
        kill_connection_of(one, second)
        assert not second.is_held()
        assert first.try_acquire()
        first.release()


# --- roles and heartbeats ------------------------------------------------------------------


def test_roles_follow_the_lock_and_heartbeats_show_them(database_url: str) -> None:
    with (
        open_database(database_url, migrate=True) as one,
        open_database(database_url) as other,
    ):
        first = Role(instance_lock(one, database_url), one, now=NOW)
        second = Role(instance_lock(other, database_url), other, now=NOW)
        assert first.update() == "active"
        assert first.update() is None
        assert second.update() == "standby"
        assert second.update() is None  # said once
        first.beat(NOW)
        second.beat(NOW + timedelta(seconds=1))
        with one.session(read_only=True) as session:
            live = store.live_instances(session, since=NOW - timedelta(seconds=30))
        assert [(i.instance, i.role) for i in live] == [
            (first.instance.instance, "active"),
            (second.instance.instance, "standby"),
        ]
        assert all(i.pid == os.getpid() for i in live)

        first.leave()
        assert not first.active
        assert second.update() == "active"
        assert second.confirm()
        later = NOW + timedelta(minutes=5)
        second.beat(later)
        with one.session(read_only=True) as session:
            assert [i.role for i in store.live_instances(session, since=NOW)] == ["active"]
            assert store.live_instances(session, since=later + timedelta(seconds=1)) == []
        second.leave()


def test_a_new_active_instance_forgets_the_row_of_one_that_died(database_url: str) -> None:
    with (
        open_database(database_url, migrate=True) as one,
        open_database(database_url) as other,
    ):
        dead = Role(instance_lock(one, database_url), one, now=NOW)
        assert dead.update() == "active"
        dead.beat(NOW)
        dead.lock.release()  # it died without saying so: its row stays
        heir = Role(instance_lock(other, database_url), other, now=NOW)
        assert heir.update() == "active"
        heir.beat(NOW)
        with other.session(read_only=True) as session:
            live = store.live_instances(session, since=NOW - timedelta(seconds=30))
        assert [i.instance for i in live] == [heir.instance.instance]
        heir.leave()


def test_job_run_queries(tmp_path: Path) -> None:
    with open_database(f"sqlite:///{tmp_path / 'r.db'}") as database:
        with database.session() as session:
            for minutes, outcome in ((0, "ok"), (10, "incomplete"), (20, "failed")):
                at = NOW + timedelta(minutes=minutes)
                run_id = store.start_job_run(session, "reminders", at.date(), now=at)
                store.finish_job_run(session, run_id, outcome=outcome, summary=outcome, now=at)
            store.start_job_run(session, "reminders", NOW.date(), now=NOW + timedelta(hours=1))
            for days in (10, 1):
                at = NOW - timedelta(days=days)
                store.start_job_run(session, "retry", at.date(), now=at)
        with database.session() as session:
            assert store.prune_job_runs(session, "retry", before=NOW - timedelta(days=7)) == 1
        with database.session(read_only=True) as session:
            last = store.last_job_run(session, "reminders")
            finished = store.last_finished_run(session, "reminders")
            success = store.last_successful_run(session, "reminders")
            retries = session.scalars(select(JobRun.started_at).where(JobRun.job == "retry"))
            assert list(retries) == [NOW - timedelta(days=1)]
        assert last is not None and last.outcome == "running"
        assert finished is not None and finished.outcome == "failed"
        assert success is not None and success.summary == "incomplete"
        assert success.started_at == NOW + timedelta(minutes=10)


# --- a running service whose wall clock jumps ---------------------------------------------


def test_a_wall_clock_jump_brings_one_catch_up_run_per_job(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    document = {
        "timezone": "Europe/Berlin",
        "database": {"url": f"sqlite:///{tmp_path / 'state' / 'reminder.db'}"},
        "mail": {"transport": "outbox", "outbox_dir": str(tmp_path / "outbox")},
        # Daily, twelve hours away: no real tick comes during the test.
        "schedule": {"reminders": daily_at(12), "digest": daily_at(12.1)},
        "ha": {"takeover_seconds": 5},
    }
    config = build_config(document, None, {})
    offset = [timedelta()]

    def clock() -> datetime:
        return datetime.now(UTC) + offset[0]

    async def scenario(database: Database) -> list[tuple[str, str]]:
        context = build_context(config, database)
        role = Role(instance_lock(database, config.database.url), database, now=clock())
        service = Service(context, role, reload=lambda: context, clock=clock, environ={})
        running = asyncio.get_running_loop().create_task(service.run())
        await wait_for_runs(database, 3)  # the first start: reminders, digest, sweep
        # The machine sleeps three days: the wall clock moves, the monotonic one does not.
        jumped_at = clock()
        offset[0] = timedelta(days=3)
        await wait_for_runs(database, 5)
        await asyncio.sleep(2)  # another role check: nothing more runs
        service.stop()
        assert await running == 0
        with database.session(read_only=True) as session:
            rows = session.execute(
                select(JobRun.job, JobRun.outcome)
                .where(JobRun.started_at > jumped_at + timedelta(days=1))
                .order_by(JobRun.id)
            )
            return [(job, outcome) for job, outcome in rows]

    with open_database(config.database.url) as database:
        after_jump = asyncio.run(scenario(database))
        with database.session(read_only=True) as session:
            total = session.scalars(select(JobRun.job).where(JobRun.job != "retry")).all()
    assert "the wall clock moved 3 days" in caplog.text
    # One run each, not one per missed day, then a sweep of what is pending.
    assert after_jump == [("reminders", "ok"), ("digest", "ok"), ("retry", "ok")]
    assert sorted(total) == ["digest", "digest", "reminders", "reminders"]


def test_a_run_for_an_old_day_done_today_does_not_stop_todays_catch_up(tmp_path: Path) -> None:
    """After the Quick start (`run-once --as-of 2022-01-17`), a `serve` started the same
    day still runs today's reminders: catch-up looks at the day a run was for."""
    document = {
        "timezone": "Europe/Berlin",
        "database": {"url": f"sqlite:///{tmp_path / 'state' / 'reminder.db'}"},
        "mail": {"transport": "outbox", "outbox_dir": str(tmp_path / "outbox")},
        # Daily, due twelve hours ago and not again during the test.
        "schedule": {"reminders": daily_at(-12), "digest": daily_at(-12.1)},
    }
    config = build_config(document, None, {})
    quick_start_day = datetime(2022, 1, 17, tzinfo=UTC).date()

    async def scenario(database: Database) -> list[tuple[str, str]]:
        context = build_context(config, database)
        await run_job(context, "reminders", as_of=quick_start_day, now=datetime.now(UTC))
        role = Role(instance_lock(database, config.database.url), database, now=datetime.now(UTC))
        service = Service(context, role, reload=lambda: context, environ={})
        running = asyncio.get_running_loop().create_task(service.run())
        await wait_for_runs(database, 4)  # the Quick start's, then reminders, digest, sweep
        service.stop()
        assert await running == 0
        with database.session(read_only=True) as session:
            rows = session.execute(
                select(JobRun.job, JobRun.as_of).where(JobRun.job != "retry").order_by(JobRun.id)
            )
            return [(job, as_of.isoformat()) for job, as_of in rows]

    with open_database(config.database.url, migrate=True) as database:
        runs = asyncio.run(scenario(database))
    today = datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
    assert runs == [("reminders", "2022-01-17"), ("reminders", today), ("digest", today)]


def daily_at(hours_from_now: float) -> str:
    """Return a cron line firing daily at the Berlin time `hours_from_now` hours away."""
    moment = datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(hours=hours_from_now)
    return f"{moment.minute} {moment.hour} * * *"


async def wait_for_runs(database: Database, count: int) -> None:
    """Wait until `count` runs have ended."""
    for _ in range(200):
        with database.session(read_only=True) as session:
            ended = session.scalars(select(JobRun.id).where(JobRun.outcome != "running")).all()
        if len(ended) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} runs ended")


# --- the web page follows a reload ----------------------------------------------------------


def web_document(tmp_path: Path, coordinator: str, **web: Any) -> dict[str, Any]:
    """Return a config with the web page on, GE routed to `coordinator`, and `web` in [web]."""
    return {
        "timezone": "Europe/Berlin",
        "database": {"url": f"sqlite:///{tmp_path / 'state' / 'reminder.db'}"},
        "mail": {"transport": "outbox", "outbox_dir": str(tmp_path / "outbox")},
        "reminders": {"windows": [30, 7]},
        "coordinators": [{"name": "Coordinator", "email": coordinator, "countries": ["GE"]}],
        "schedule": {"reminders": "0 8 * * *"},
        "web": {"enabled": True, **web},
    }


def test_the_web_page_follows_an_applied_reload_and_keeps_its_web_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The pages of `serve`'s WebServer, wired as cmd_serve wires them, through the
    service's reload: a refused reload changes no page; an applied one reaches the mail
    previews (the Context), the status page (its config) and the list's filters (the
    app's WebState); a changed [web] is said and not used."""
    environ = {"XDG_DATA_HOME": str(tmp_path / "data")}
    config = build_config(web_document(tmp_path, "ayse@example.edu"), None, environ)
    reloads: list[Config | Exception] = []

    def reload() -> Context:
        loaded = reloads.pop(0)
        if isinstance(loaded, Exception):
            raise loaded
        return build_context(loaded, database)

    with open_database(config.database.url, migrate=True) as database:
        with database.session() as session:
            until = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=20)
            row = agreement_input("Tbilisi State University", effective_until=until)
            store.apply_import(session, [row], now=datetime.now(UTC), actor="tester")
        site = Site(config, database, Clock())
        site.add_user("office@example.edu", UserRole.ADMIN, "Office Admin")
        role = Role(instance_lock(database, config.database.url), database, now=NOW)
        web: WebServer | None = None
        service = Service(
            build_context(config, database),
            role,
            reload=reload,
            on_reload=lambda context: web.reload(context.config) if web else None,
            environ={},
        )
        web = WebServer(config, database, web_services(lambda: service.context, database))
        client = TestClient(web.app, base_url="http://testserver")
        log_in(client, "office@example.edu")

        def pages() -> tuple[str, str, str]:
            return client.get("/mail").text, client.get("/status").text, client.get("/").text

        mail, status, listing = pages()
        assert "to ayse@example.edu" in mail
        assert "<code>0 8 * * *</code>" in status
        assert '<option value="ayse@example.edu">' in listing

        reloads.append(ConfigError(["config.toml: reminders.windows: not a list"]))
        asyncio.run(service._reload())
        assert "reload refused" in caplog.text
        mail, status, listing = pages()
        assert "to ayse@example.edu" in mail
        assert "<code>0 8 * * *</code>" in status
        assert '<option value="ayse@example.edu">' in listing

        changed = web_document(tmp_path, "nadia@example.edu")
        changed["schedule"]["reminders"] = "30 9 * * *"
        reloads.append(build_config(changed, None, environ))
        asyncio.run(service._reload())
        mail, status, listing = pages()
        assert "to nadia@example.edu" in mail and "ayse@example.edu" not in mail
        assert "<code>30 9 * * *</code>" in status
        assert '<option value="nadia@example.edu">' in listing
        assert "ayse@example.edu" not in listing
        assert "[web] changed" not in caplog.text

        # A shorter session and another coordinator: the session keeps its start's
        # settings (the middleware's), and the pages the coordinator.
        reloads.append(
            build_config(
                web_document(tmp_path, "omar@example.edu", session_idle_minutes=5), None, environ
            )
        )
        asyncio.run(service._reload())
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warnings == ["SIGHUP: [web] changed: restart the service to use it"]
        assert service.context.config.web.session_idle_minutes == 5
        state = web.app.state.web
        assert state.config.web == config.web
        assert [c.email for c in state.config.coordinators] == ["omar@example.edu"]
        assert state.config.source == config.source
        assert '<option value="omar@example.edu">' in client.get("/").text


# --- the systemd units -----------------------------------------------------------------------


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed")
    return found


@pytest.mark.parametrize(
    "unit", ["reminder.service", "reminder-once.service", "reminder-web.service"]
)
def test_the_units_score_an_exposure_of_at_most_1_5(unit: str) -> None:
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", str(UNITS / unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 1.5, result.stdout


def test_the_units_verify_cleanly(tmp_path: Path) -> None:
    """Check the units' own settings with `systemd-analyze verify`.

    verify also checks that ExecStart's program exists, which /opt/reminder/bin/reminder
    does not on a test machine: the copies run this Python's `-m reminder` instead,
    with every other line as shipped.
    """
    services = ("reminder.service", "reminder-once.service", "reminder-web.service")
    for unit in (*services, "reminder-once.timer"):
        text_of_unit = (UNITS / unit).read_text(encoding="utf-8")
        if unit.endswith(".service"):
            assert "ExecStart=/opt/reminder/bin/reminder " in text_of_unit
        (tmp_path / unit).write_text(
            text_of_unit.replace("/opt/reminder/bin/reminder", f"{sys.executable} -m reminder"),
            encoding="utf-8",
        )
    result = subprocess.run(
        [
            systemd_analyze(),
            "verify",
            *(str(tmp_path / u) for u in services),
            str(tmp_path / "reminder-once.timer"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "reminder" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_the_real_scheduler_wakes_the_sweep_on_the_clock_and_never_early() -> None:
    """APScheduler on the event loop's clock: the sweep wakes again and again, never
    sooner than its interval. The upper bound is generous: a loaded machine runs late."""
    zone = ZoneInfo("Europe/Berlin")
    never_soon = CronSchedule("0 8 1 1 *", zone, key="k")
    interval = timedelta(seconds=0.2)
    woken: list[tuple[str, float]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        scheduler = start_scheduler(
            Schedule(never_soon, never_soon, interval, zone),
            lambda job: woken.append((job, loop.time())),
        )
        try:
            deadline = loop.time() + 10
            while len(woken) < 3 and loop.time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)

    asyncio.run(scenario())
    assert [job for job, _ in woken][:3] == [RETRY_JOB] * 3
    gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(woken)]
    # 10 ms of slack: APScheduler computes fire times on the wall clock, the loop on its own.
    assert all(gap >= interval.total_seconds() - 0.01 for gap in gaps)
