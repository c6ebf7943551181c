"""Shared fixtures.

Databases: every database test runs on SQLite and, when their URLs are set, on
PostgreSQL (REMINDER_TEST_POSTGRES_URL) and MariaDB/MySQL (REMINDER_TEST_MYSQL_URL).
Each server test gets a database of its own, created from the server URL and dropped
afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
import pymysql  # type: ignore[import-untyped]
import pytest

from reminder.store.database import Database, open_database

# ---------------------------------------------------------------------------------------
# Databases

SERVER_URL_VARIABLES = {
    "postgres": "REMINDER_TEST_POSTGRES_URL",
    "mysql": "REMINDER_TEST_MYSQL_URL",
}
SERVER_NAMES = {"postgres": "PostgreSQL", "mysql": "MariaDB/MySQL"}


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty database: an SQLite file, or a fresh server database.

    The SQLite file sits in a folder that does not exist yet, as on a first start.
    """
    kind: str = request.param
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'reminder.db'}"
        return
    variable = SERVER_URL_VARIABLES[kind]
    server_url = os.environ.get(variable)
    if not server_url:
        pytest.skip(f"{variable} not set: {SERVER_NAMES[kind]} tests skipped")
    name = f"reminder_test_{secrets.token_hex(6)}"
    _run_admin_statement(kind, server_url, f"CREATE DATABASE {name}")
    try:
        yield _with_database_name(server_url, name)
    finally:
        drop = f"DROP DATABASE IF EXISTS {name}"
        # Connections a failed test left open must not keep the database alive.
        _run_admin_statement(
            kind, server_url, drop + (" WITH (FORCE)" if kind == "postgres" else "")
        )


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """Yield a Database at `database_url` with the schema upgraded to the newest revision."""
    database = open_database(database_url, migrate=True)
    try:
        yield database
    finally:
        database.close()


def _run_admin_statement(kind: str, server_url: str, statement: str) -> None:
    """Run `statement` outside any transaction on the server of `server_url`.

    The drivers are used directly: CREATE/DROP DATABASE is server administration,
    which is not the program's business.
    """
    parts = urlsplit(server_url)
    if kind == "postgres":
        plain_url = urlunsplit(parts._replace(scheme="postgresql"))
        with psycopg.connect(plain_url, autocommit=True) as connection:
            connection.execute(statement.encode())
        return
    connection = pymysql.connect(
        host=parts.hostname or "localhost",
        port=parts.port or 3306,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        autocommit=True,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def _with_database_name(server_url: str, name: str) -> str:
    """Return `server_url` naming database `name` instead of its own."""
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


# ---------------------------------------------------------------------------------------
# SMTP: an in-process server (tests/smtp_server.py) and the CAs its certificates come from.
# This block is appended by the mailer work; its imports sit here rather than at the top
# so the block stays self-contained while the file is edited in parallel.

from typing import Any  # noqa: E402

import trustme  # noqa: E402
from smtp_server import SmtpTestServer, StartSmtpServer  # noqa: E402


@pytest.fixture(scope="session")
def smtp_ca() -> trustme.CA:
    """Return the throwaway CA the test clients trust; the test servers' certificates."""
    return trustme.CA()


@pytest.fixture(scope="session")
def untrusted_ca() -> trustme.CA:
    """Return a second CA the clients do not trust, for certificate-check tests."""
    return trustme.CA()


@pytest.fixture(scope="session")
def smtp_ca_file(smtp_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a PEM file holding `smtp_ca`'s certificate, for smtp.ca_file."""
    path = tmp_path_factory.mktemp("smtp-ca") / "ca.pem"
    smtp_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def start_smtp_server(smtp_ca: trustme.CA) -> Iterator[StartSmtpServer]:
    """Yield a function that starts an SmtpTestServer; all are stopped after the test.

    Its arguments are SmtpTestServer's; the certificate comes from `smtp_ca` unless
    `certificate_authority` names another CA.
    """
    servers: list[SmtpTestServer] = []

    def start(*args: Any, **options: Any) -> SmtpTestServer:
        if options.get("certificate_authority") is None:
            options["certificate_authority"] = smtp_ca
        server = SmtpTestServer(*args, **options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server(start_smtp_server: StartSmtpServer) -> SmtpTestServer:
    """Return a running, well-behaved server: STARTTLS required, AUTH required."""
    return start_smtp_server()


# End of the SMTP block.


# ---------------------------------------------------------------------------------------
# End to end: the `reminder` command run as a user would, as a subprocess.

import subprocess  # noqa: E402
import sys  # noqa: E402

from e2e.clirun import RunCli  # noqa: E402


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Return an environment whose default database and outbox live under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMINDER_", "STATE_DIR"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["TZ"] = "Europe/Istanbul"
    env.pop("CONFIGURATION_DIRECTORY", None)
    env.pop("CREDENTIALS_DIRECTORY", None)
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str], tmp_path: Path) -> RunCli:
    """Return a function running `python -m reminder ARGS` and returning the result."""

    def run(
        *args: str | Path, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reminder", *map(str, args)],
            capture_output=True,
            text=True,
            env=env or cli_env,
            cwd=tmp_path,
            timeout=timeout,
            check=False,
        )

    return run
