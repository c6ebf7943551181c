"""Opening a database and migrating its schema, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import logging
import stat
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from factories import agreement_input
from sqlalchemy import select
from web.webapp import make_site

from reminder.config.redact import MASK
from reminder.domain.records import AgreementInput
from reminder.errors import StoreError
from reminder.store import apply_import, count_agreements, users
from reminder.store.database import (
    SQLITE_BUSY_TIMEOUT_MS,
    Database,
    alembic_config,
    normalise_url,
    open_database,
    sqlite_file,
)
from reminder.store.models import Base, UTCDateTime
from reminder.store.revisions import head_revision, known_revisions
from reminder.store.user_models import WebUser
from reminder.web import accounts

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def schema_differences(database: Database) -> list[object]:
    """Return what Alembic finds different between the database and the models."""
    with database.session(read_only=True) as session:
        context = MigrationContext.configure(session.connection())
        return list(compare_metadata(context, Base.metadata))


def agreement_row(partner_key: str) -> AgreementInput:
    """Return a valid import row for the partner `partner_key`."""
    return agreement_input(
        partner_key.title(),
        partner_key=partner_key,
        country="Portugal",
        country_code="PT",
        programme="Erasmus+",
        programme_key="erasmus+",
        concluded=date(2021, 6, 1),
        effective_until=date(2027, 5, 31),
    )


# ---------------------------------------------------------------------------------------
# Migrations


def test_revisions_read_without_alembic_are_alembics() -> None:
    # Every command reads the head and the known revisions from the migration files'
    # text: they must be what Alembic makes of the same scripts.
    scripts = ScriptDirectory.from_config(alembic_config())

    assert head_revision() == scripts.get_current_head()
    assert known_revisions() == {
        script.revision: script.down_revision for script in scripts.walk_revisions()
    }


def test_empty_database_upgrades_to_head_and_downgrades_to_base(database_url: str) -> None:
    with open_database(database_url, migrate=False) as database:
        assert database.current_revision() is None
        assert database.needs_upgrade()

        database.upgrade()

        assert database.current_revision() == database.head_revision()
        assert not database.needs_upgrade()
        assert schema_differences(database) == []

        database.downgrade("base")

        assert database.current_revision() is None
        assert database.needs_upgrade()
        missing_tables = {
            difference[1].name
            for difference in schema_differences(database)
            if isinstance(difference, tuple) and difference[0] == "add_table"
        }
        assert missing_tables == {
            "agreements",
            "agreement_events",
            "messages",
            "message_recipients",
            "reminders",
            "job_runs",
            "service_instances",
            "web_users",
            "web_login_attempts",
        }

        # Down and up again: the downgrade left nothing behind that the upgrade trips on.
        database.upgrade()
        assert schema_differences(database) == []


# web_users as revision 0006 left it: only the columns these tests write or read.
WEB_USERS_0006 = sa.table(
    "web_users",
    sa.column("id", sa.Integer()),
    sa.column("email", sa.String()),
    sa.column("name", sa.String()),
    sa.column("role", sa.String()),
    sa.column("disabled", sa.Boolean()),
    sa.column("session_generation", sa.Integer()),
    sa.column("calendar_token", sa.String()),
    sa.column("created_at", UTCDateTime()),
)


def test_calendar_tokens_from_before_0007_still_open_their_feeds(
    database_url: str, tmp_path: Path
) -> None:
    tokens = {"office@example.org": accounts.new_token(), "other@example.org": accounts.new_token()}
    with open_database(database_url, migrate=False) as database:
        database.upgrade("0006")
        with database.session() as session:
            for email, token in tokens.items():
                session.execute(
                    WEB_USERS_0006.insert().values(
                        email=email,
                        name=email,
                        role="admin",
                        disabled=False,
                        session_generation=0,
                        calendar_token=token,
                        created_at=NOW,
                    )
                )

        database.upgrade()

        with database.session(read_only=True) as session:
            stored = session.execute(select(WebUser.__table__)).all()
            for email, token in tokens.items():
                user = users.user_by_calendar_digest(session, accounts.token_digest(token))
                assert user is not None and user.email == email and user.has_calendar_feed
        # Only the digests are left: no column of any row holds a token.
        assert not any(
            token in str(value) for row in stored for value in row for token in tokens.values()
        )
        # The feed URL a calendar program subscribed to before the upgrade still works.
        site = make_site(database, tmp_path)
        feed = site.client().get(f"/calendar/{tokens['office@example.org']}.ics")
        assert feed.status_code == 200
        assert "Tbilisi State University" in feed.text

        # Digests cannot be reversed: the downgrade gives every user a new random token.
        database.downgrade("0006")
        with database.session(read_only=True) as session:
            after = dict(
                session.execute(
                    sa.select(WEB_USERS_0006.c.email, WEB_USERS_0006.c.calendar_token)
                ).all()
            )
        assert len(after) == 6  # make_site's four users and the two above
        assert all(after.values()) and len(set(after.values())) == len(after)
        assert not set(after.values()) & set(tokens.values())


def test_default_upgrades_sqlite_and_refuses_an_outdated_server(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        with open_database(database_url) as database:
            assert not database.needs_upgrade()
        return
    with pytest.raises(StoreError) as raised:
        open_database(database_url)
    message = str(raised.value)
    assert "is at revision none" in message
    assert "run `reminder db upgrade`" in message
    with open_database(database_url, migrate=False) as database:
        assert database.current_revision() is None, "the refusal must not migrate"


def test_revision_unknown_to_this_version_is_refused(database_url: str, db: Database) -> None:
    with db.session() as session:
        session.connection().exec_driver_sql("UPDATE alembic_version SET version_num = 'f00d'")

    with pytest.raises(StoreError, match="revision f00d, which this version of reminder"):
        open_database(database_url, migrate=True)


def test_migrating_leaves_logging_configuration_alone(database_url: str) -> None:
    root = logging.getLogger()
    alembic_logger = logging.getLogger("alembic")
    before = (list(root.handlers), root.level, list(alembic_logger.handlers), alembic_logger.level)

    with open_database(database_url, migrate=True) as database:
        assert not database.needs_upgrade()

    after = (list(root.handlers), root.level, list(alembic_logger.handlers), alembic_logger.level)
    assert after == before


# ---------------------------------------------------------------------------------------
# Opening a database


def sqlite_url(folder: Path) -> str:
    """Return the URL of an SQLite database file in `folder`."""
    return f"sqlite:///{folder / 'reminder.db'}"


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    # Two sessions at once hold two pooled connections: each must be set up.
    with (
        open_database(sqlite_url(tmp_path)) as database,
        database.session(read_only=True) as first,
        database.session(read_only=True) as second,
    ):
        for session in (first, second):
            connection = session.connection()
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert (
                connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
            )
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_writers_that_read_first_wait_instead_of_failing(tmp_path: Path) -> None:
    """Two writers that read before writing: with deferred transactions one would fail.

    The first writer reads, then pauses while the second starts; the second must wait
    for the first to commit, not fail with "database is locked".
    """
    # Two engines on one file, as two processes would have.
    database_url = sqlite_url(tmp_path)
    with open_database(database_url) as first_db, open_database(database_url) as second_db:
        first_has_read = threading.Event()
        failures: list[BaseException] = []

        def first_writer() -> None:
            try:
                with first_db.session() as session:
                    count_agreements(session)
                    first_has_read.set()
                    # Give the second writer time to start its own transaction.
                    time.sleep(0.5)
                    apply_import(session, [agreement_row("alpha")], now=NOW, actor="first")
            except BaseException as error:
                failures.append(error)
                first_has_read.set()

        thread = threading.Thread(target=first_writer)
        thread.start()
        assert first_has_read.wait(10)
        with second_db.session() as session:
            count_agreements(session)
            apply_import(session, [agreement_row("beta")], now=NOW, actor="second")
        thread.join(10)

        assert failures == []
        with second_db.session(read_only=True) as session:
            assert count_agreements(session) == 2


def test_sqlite_reader_is_not_blocked_by_a_writer(tmp_path: Path) -> None:
    database_url = sqlite_url(tmp_path)
    with open_database(database_url) as writer_db, open_database(database_url) as reader_db:
        with writer_db.session() as writing:
            apply_import(writing, [agreement_row("alpha")], now=NOW, actor="writer")
            # The writer holds the write lock and has not committed: the reader sees
            # the last committed state at once instead of waiting busy_timeout.
            with reader_db.session(read_only=True) as reading:
                assert count_agreements(reading) == 0
        with reader_db.session(read_only=True) as reading:
            assert count_agreements(reading) == 1


def test_read_only_session_keeps_nothing(db: Database) -> None:
    with db.session(read_only=True) as session:
        apply_import(session, [agreement_row("alpha")], now=NOW, actor="test")
        assert count_agreements(session) == 1
    with db.session(read_only=True) as session:
        assert count_agreements(session) == 0


def test_session_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError, match="stop here"), db.session() as session:
        apply_import(session, [agreement_row("alpha")], now=NOW, actor="test")
        raise RuntimeError("stop here")
    with db.session(read_only=True) as session:
        assert count_agreements(session) == 0


@pytest.mark.parametrize(
    "url",
    ["postgresql://reminder@127.0.0.1:1/reminder", "mysql://reminder@127.0.0.1:1/reminder"],
)
def test_unreachable_server_is_one_line_store_error_without_password(url: str) -> None:
    with pytest.raises(StoreError) as raised:
        open_database(url, password="hunter2", migrate=False)
    message = str(raised.value)
    assert "\n" not in message
    assert "127.0.0.1:1" in message
    assert f"reminder:{MASK}@" in message
    assert "hunter2" not in message
    assert "refused" in message.lower()


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("postgresql://reminder@127.0.0.1:1/reminder", "psycopg", "postgres"),
        ("mysql://reminder@127.0.0.1:1/reminder", "pymysql", "mysql"),
    ],
)
def test_missing_driver_names_the_extra_to_install(
    url: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes `import <module>` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(StoreError, match=rf"pip install 'reminder\[{extra}\]'"):
        open_database(url)


def test_unknown_database_kind_is_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported database URL"):
        open_database("nosuchdatabase://reminder@127.0.0.1/reminder")


def test_unparseable_url_is_store_error_without_repeating_it() -> None:
    with pytest.raises(StoreError) as raised:
        open_database("not a url with secret")
    assert "secret" not in str(raised.value)


def test_sqlite_folder_that_cannot_be_created_is_store_error(tmp_path: Path) -> None:
    blocking_file = tmp_path / "state"
    blocking_file.write_text("a file where the database folder should be")
    with pytest.raises(StoreError, match="cannot create the folder"):
        open_database(f"sqlite:///{blocking_file / 'reminder.db'}")


def test_a_new_sqlite_database_and_its_wal_are_readable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'reminder.db'}"
    with open_database(url, migrate=True) as database, database.session() as session:
        apply_import(session, [], now=datetime(2025, 1, 1, tzinfo=UTC), actor="test")
        files = sorted((tmp_path / "state").iterdir())
        assert {path.name for path in files} >= {"reminder.db", "reminder.db-wal"}
        assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {
            path.name: 0o600 for path in files
        }


def test_sqlite_file_that_cannot_be_opened_is_store_error(tmp_path: Path) -> None:
    # A folder where the database file should be: SQLite cannot open it, even as root.
    (tmp_path / "reminder.db").mkdir()
    with pytest.raises(StoreError, match="unable to open database file") as raised:
        open_database(f"sqlite:///{tmp_path / 'reminder.db'}")
    assert "\n" not in str(raised.value)


def test_sqlite_file_names_the_database_file_only_for_sqlite_files() -> None:
    assert sqlite_file("sqlite:///state/reminder.db") == Path("state/reminder.db")
    assert sqlite_file("sqlite:////var/lib/reminder/reminder.db") == Path(
        "/var/lib/reminder/reminder.db"
    )
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql://reminder@db.example/reminder") is None


def test_plain_urls_get_this_project_drivers_and_the_password() -> None:
    postgres = normalise_url("postgresql://reminder@db.example/reminder", password="p@ss word")
    assert postgres.drivername == "postgresql+psycopg"
    assert postgres.password == "p@ss word"
    for scheme in ("mysql", "mariadb"):
        mariadb = normalise_url(f"{scheme}://reminder@db.example/reminder")
        assert mariadb.drivername == "mysql+pymysql"
        assert mariadb.query["charset"] == "utf8mb4"
    explicit = normalise_url("mysql+pymysql://reminder@db.example/reminder?charset=utf8")
    assert explicit.query["charset"] == "utf8"
    sqlite = normalise_url("sqlite:///~/reminder.db")
    assert sqlite.database == str(Path("~/reminder.db").expanduser())
