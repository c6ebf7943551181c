"""The databases a benchmark runs on: an SQLite file, or a PostgreSQL database of its own.

A PostgreSQL database is created for the run under a fresh name and dropped afterwards,
so the benchmark never touches anyone else's tables.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text

from reminder.store.database import Database, open_database

#: Ledger tables, children first: emptied between repetitions of a run.
LEDGER_TABLES = ("message_recipients", "reminders", "messages", "job_runs")
#: Every table with rows, children first.
ALL_TABLES = (*LEDGER_TABLES, "agreement_events", "agreements")


@dataclass(frozen=True)
class Target:
    """One database: its kind ("sqlite" or "postgresql"), its URL, and its SQLite file."""

    kind: str
    url: str
    sqlite_path: Path | None = None

    def open(self) -> Database:
        """Return the Database, schema upgraded (the bench creates its own databases)."""
        return open_database(self.url, migrate=True)

    def raw_connection(self) -> Any:
        """Return a DB-API connection of the driver itself, for the hand-written floor."""
        if self.sqlite_path is not None:
            return sqlite3.connect(self.sqlite_path)
        import psycopg

        return psycopg.connect(_plain(self.url))


def sqlite_target(path: Path) -> Target:
    """Return the target for an SQLite file at `path`."""
    return Target("sqlite", f"sqlite:///{path}", path)


def create_postgres(server_url: str, label: str) -> Target:
    """Create an empty database on the server of `server_url`; return its target.

    Raises psycopg.Error when the server cannot be reached.
    """
    import psycopg

    name = f"reminder_bench_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(_plain(server_url), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}".encode())
    return Target("postgresql", urlunsplit(urlsplit(server_url)._replace(path=f"/{name}")))


def drop(target: Target) -> None:
    """Remove the database of `target`: the SQLite file and its journals, or the server one."""
    if target.sqlite_path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{target.sqlite_path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    parts = urlsplit(target.url)
    name = parts.path.lstrip("/")
    server = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(_plain(server), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def clear_ledger(database: Database) -> None:
    """Delete every reminder, message and job run, so the next run starts from nothing."""
    with database.session() as session:
        for table in LEDGER_TABLES:
            session.execute(text(f"DELETE FROM {table}"))


def server_version(target: Target) -> str:
    """Return the database engine's version string."""
    connection = target.raw_connection()
    try:
        query = "select sqlite_version()" if target.kind == "sqlite" else "show server_version"
        cursor = connection.cursor()
        cursor.execute(query)
        return f"{target.kind} {cursor.fetchone()[0]}"
    finally:
        connection.close()


def _plain(url: str) -> str:
    """Return a libpq URL (psycopg does not know SQLAlchemy's "+driver" schemes)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))
