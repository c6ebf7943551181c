"""The database: one engine, sessions that commit or roll back, and schema migrations.

SQLite (embedded, the default), PostgreSQL and MariaDB/MySQL are supported. The Alembic
scripts live inside the package, so an installed copy can migrate its own database.
Alembic is imported only to migrate: checking the schema's revision, which every
command does, reads it with a plain query (see `revisions`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import Session

from reminder.config.redact import MASK, redact_url
from reminder.errors import InputError, StoreError
from reminder.store.revisions import database_revision, head_revision, known_revisions

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_FOLDER = Path(__file__).with_name("migrations")

# Plain URL schemes mapped to the drivers this project installs with its extras.
_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}
# The extra that installs a driver: `pip install 'reminder[postgres]'`.
_DRIVER_EXTRAS = {"psycopg": "postgres", "pymysql": "mysql"}

# Execution option telling the SQLite "begin" hook to start a deferred transaction.
_SQLITE_DEFERRED = "reminder_sqlite_deferred"
SQLITE_BUSY_TIMEOUT_MS = 5000


def normalise_url(url: str, *, password: str | None = None) -> URL:
    """Return `url` with this project's driver for plain schemes and `password` set.

    "postgresql://" becomes "postgresql+psycopg://", "mysql://" and "mariadb://" become
    "mysql+pymysql://" with charset=utf8mb4; an explicit driver is kept. A leading "~"
    in an SQLite path is expanded.

    Raises StoreError if `url` cannot be parsed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The message must not repeat the URL: it may hold a password.
        raise StoreError(
            "the database URL is not valid: expected sqlite:///PATH or "
            "postgresql://USER@HOST/DATABASE or mysql://USER@HOST/DATABASE"
        ) from None
    parsed = parsed.set(drivername=_DRIVERS.get(parsed.drivername, parsed.drivername))
    if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
        # utf8mb4: MariaDB's "utf8" cannot store every character a partner name may hold.
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        parsed = parsed.set(database=str(Path(parsed.database).expanduser()))
    if password is not None:
        parsed = parsed.set(password=password)
    return parsed


def sqlite_file(url: str) -> Path | None:
    """Return the file of an SQLite database URL; None for a server or in-memory database.

    Raises StoreError if `url` cannot be parsed.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite" or not _is_sqlite_file(parsed):
        return None
    assert parsed.database is not None  # _is_sqlite_file checked it
    return Path(parsed.database)


def open_database(
    url: str, *, password: str | None = None, migrate: bool | None = None
) -> Database:
    """Return a Database for `url`, connected once to check that it is usable.

    `password`, if given, replaces any password in `url`. `migrate` says what to do with
    a schema older than this program: True upgrades it; False leaves the schema alone,
    whatever its revision (for the `reminder db` commands); None upgrades an embedded
    SQLite database and refuses a server database, whose upgrade is an administrator's
    decision.

    Raises StoreError if the URL is invalid, its driver is not installed, the database
    cannot be reached, or (unless `migrate` is False) its schema is not usable;
    InputError if what the URL names answers, but not as a database.
    """
    parsed = normalise_url(url, password=password)
    # SQLAlchemy's own masking leaves a password given as a query argument in view.
    display_url = redact_url(parsed.render_as_string(hide_password=False))
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        _create_sqlite_folder(parsed)
    database = Database(_create_engine(parsed, display_url), display_url, _secrets_of(parsed))
    try:
        if migrate is False:
            database.current_revision()  # reachable, at least
        else:
            database.ensure_schema(upgrade=migrate or is_sqlite)
    except DatabaseError as error:
        database.close()
        # Not a connection problem: the file or server answered, but not as a database
        # of this kind ("file is not a database" for /etc/passwd as an SQLite URL).
        raise InputError(
            f"database at {display_url}: {database.scrub(_driver_reason(error.orig))} "
            "(check database.url)"
        ) from error
    except BaseException:
        database.close()
        raise
    return database


def _secrets_of(url: URL) -> tuple[str, ...]:
    """Return the passwords `url` carries (userinfo and query), to keep out of messages."""
    found = [url.password] if url.password else []
    for key, value in url.query.items():
        if key.lower() in ("password", "passwd", "pass", "pwd"):
            found += [value] if isinstance(value, str) else list(value)
    return tuple(str(secret) for secret in found if secret)


class Database:
    """One database reached through one engine; close it when done."""

    def __init__(self, engine: Engine, display_url: str, secrets: tuple[str, ...] = ()) -> None:
        self._engine = engine
        self._reading_engine = engine.execution_options(**{_SQLITE_DEFERRED: True})
        #: The URL with its password masked, for messages and logs.
        self.display_url = display_url
        self._secrets = secrets

    def scrub(self, text: str) -> str:
        """Return `text` with any password of this database's URL masked: a driver may
        repeat its connection options in an error message."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    @property
    def dialect_name(self) -> str:
        """Return "sqlite", "postgresql" or "mysql" (also for MariaDB)."""
        return self._engine.dialect.name

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """Yield a Session whose work is committed on success and rolled back on error.

        Objects stay usable after the session ends (expire_on_commit=False). A
        `read_only` session is never committed: whatever it wrote is rolled back when
        it closes. On SQLite it starts a deferred transaction, so it reads beside a
        writer instead of waiting for the write lock.

        Raises StoreError if the database cannot be reached or stays locked.
        """
        bind = self._reading_engine if read_only else self._engine
        with self._translate_errors(), Session(bind, expire_on_commit=False) as session:
            try:
                yield session
                if not read_only:
                    session.commit()
            except BaseException:
                session.rollback()
                raise
            # A read-only session is just closed: closing rolls the transaction back
            # without expiring the objects read, as Session.rollback() would.

    def current_revision(self) -> str | None:
        """Return the schema revision of the database, None for an empty database.

        Raises StoreError if the database cannot be reached.
        """
        with self._translate_errors(), self._reading_engine.connect() as connection:
            return database_revision(connection)

    def head_revision(self) -> str:
        """Return the schema revision this version of the program needs."""
        return head_revision()

    def needs_upgrade(self) -> bool:
        """Return whether the schema is older than the one this program needs.

        Raises StoreError if the database cannot be reached.
        """
        return self.current_revision() != self.head_revision()

    def ensure_schema(self, *, upgrade: bool) -> None:
        """Make sure the schema is the one this program needs, upgrading it if `upgrade`.

        Raises StoreError if the database cannot be reached, has a revision this version
        of the program does not know, or is behind and `upgrade` is False.
        """
        current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        if current is not None and current not in known_revisions():
            raise StoreError(
                f"database at {self.display_url} is at revision {current}, which this "
                "version of reminder does not know: install a newer reminder"
            )
        if not upgrade:
            raise StoreError(
                f"database at {self.display_url} is at revision {current or 'none (empty)'}, "
                f"this version needs {head}: run `reminder db upgrade`"
            )
        self.upgrade()

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema up to `revision` (default: the newest).

        Raises StoreError if the database cannot be reached or the migration fails.
        """
        from alembic import command

        logger.info("upgrading the database at %s to %s", self.display_url, revision)
        self._run_migration(command.upgrade, revision)

    def downgrade(self, revision: str) -> None:
        """Migrate the schema down to `revision` ("base" removes every table).

        Raises StoreError if the database cannot be reached or the migration fails.
        """
        from alembic import command

        logger.info("downgrading the database at %s to %s", self.display_url, revision)
        self._run_migration(command.downgrade, revision)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run_migration(self, step: Callable[[Config, str], None], revision: str) -> None:
        from alembic.util import CommandError

        with self._translate_errors(), self._engine.begin() as connection:
            try:
                step(alembic_config(connection), revision)
            except CommandError as error:
                raise StoreError(
                    f"cannot migrate the database at {self.display_url}: {self.scrub(str(error))}"
                ) from error

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        """Turn a lost or refused connection into a one-line StoreError."""
        try:
            yield
        except (OperationalError, InterfaceError) as error:
            raise StoreError(
                f"database at {self.display_url}: {self.scrub(_driver_reason(error.orig))}"
            ) from error


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic configuration for the packaged scripts, without any .ini file.

    env.py migrates through `connection` and leaves logging alone. Also the way to
    write a new revision, on a database at the newest one:
    `alembic.command.revision(alembic_config(connection), "what", autogenerate=True)`.
    """
    from alembic.config import Config

    config = Config()
    # Alembic interpolates "%" in option values.
    config.set_main_option("script_location", str(MIGRATIONS_FOLDER).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _is_sqlite_file(url: URL) -> bool:
    """Return whether the SQLite `url` names a plain file (not memory, not a URI)."""
    return bool(url.database) and url.database != ":memory:" and not url.query.get("uri")


def _create_sqlite_folder(url: URL) -> None:
    """Create an SQLite database's folder and, when new, the file itself, owner-only
    (0600, like the outbox: it holds every message). SQLite gives -wal and -shm the
    file's mode. An existing file keeps its mode. Raises StoreError if it cannot."""
    if not _is_sqlite_file(url) or url.database is None:
        return
    database = Path(url.database)
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the folder {database.parent} for the database: "
            f"{error.strerror or error}"
        ) from error
    try:
        descriptor = os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as error:
        raise StoreError(
            f"cannot create the database {database}: {error.strerror or error}"
        ) from error
    os.close(descriptor)


def _create_engine(url: URL, display_url: str) -> Engine:
    """Return an engine for `url`, with the SQLite settings when it is SQLite.

    Raises StoreError if the URL names an unknown database or a driver not installed.
    """
    try:
        engine = create_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite")
    except NoSuchModuleError:
        raise StoreError(
            f"unsupported database URL {display_url}: use sqlite://, postgresql:// or mysql://"
        ) from None
    except ImportError as error:
        driver = url.get_driver_name()
        message = f"the database driver {driver} for {display_url} is not installed"
        extra = _DRIVER_EXTRAS.get(driver)
        if extra is not None:
            message += f": pip install 'reminder[{extra}]'"
        raise StoreError(message) from error
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """Set WAL, busy_timeout and foreign keys on every connection; writers BEGIN IMMEDIATE.

    The sqlite3 module's own transactions start deferred: two writers that both read
    first then deadlock under WAL, and one fails with "database is locked" at once
    instead of waiting. So sqlite3's transaction handling is switched off and the
    "begin" hook starts write transactions with BEGIN IMMEDIATE, which takes the write
    lock up front and waits up to busy_timeout for it (SQLAlchemy's documented recipe).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_SQLITE_DEFERRED):
            connection.exec_driver_sql("BEGIN DEFERRED")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _driver_reason(original: BaseException | None) -> str:
    """Return the driver's reason for a failure on one line."""
    if original is None:
        return "unknown error"
    arguments = original.args
    # PyMySQL gives (error number, message).
    if len(arguments) == 2 and isinstance(arguments[0], int):
        reason = f"{arguments[1]} (error {arguments[0]})"
    else:
        reason = str(original)
    return " ".join(reason.split()) or type(original).__name__
