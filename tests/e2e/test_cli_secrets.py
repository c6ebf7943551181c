"""Database URLs on the command line's output: a password in any form never shows, a
readable file holding one is refused, and what is not a database is one line."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from e2e.clirun import RunCli

SECRET = "TopSecret9"


def write_config(tmp_path: Path, url: str, *, private: bool = True) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    path.chmod(0o600 if private else 0o644)
    return path


def postgres_server() -> tuple[str, int]:
    url = os.environ.get("REMINDER_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("REMINDER_TEST_POSTGRES_URL not set: PostgreSQL tests skipped")
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


@pytest.mark.postgres
def test_a_password_in_the_query_never_shows(run_cli: RunCli, tmp_path: Path) -> None:
    host, port = postgres_server()
    database = f"postgresql://{host}:{port}/test?user=postgres&password={SECRET}"
    missing = f"postgresql://{host}:{port}/no_such_db_here?user=postgres&password={SECRET}"
    config = write_config(tmp_path, database)
    for arguments in (("check-config",), ("config", "check"), ("db", "current")):
        result = run_cli("--config", config, *arguments)
        assert SECRET not in result.stdout + result.stderr, arguments
        assert "Traceback" not in result.stderr
    # A connection error names the database, not its password.
    broken = run_cli("--config", write_config(tmp_path, missing), "db", "upgrade")
    assert broken.returncode == 1
    assert "no_such_db_here" in broken.stderr
    assert SECRET not in broken.stdout + broken.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:Top/Secret9@db.example.edu/reminder",
        f"postgresql://db.example.edu/reminder?user=postgres&password={SECRET}",
        f"mysql://root@db.example.edu/reminder?passwd={SECRET}",
    ],
)
def test_a_url_with_a_password_in_a_readable_file_is_refused(
    run_cli: RunCli, tmp_path: Path, url: str
) -> None:
    result = run_cli("--config", write_config(tmp_path, url, private=False), "check-config")

    assert result.returncode == 2
    assert "at 'database.url': the URL holds a password" in result.stderr
    assert "Secret9" not in result.stdout + result.stderr


def test_a_file_that_is_not_a_database_is_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("root:x:0:0:root:/root:/bin/bash\n" * 200, encoding="utf-8")
    config = write_config(tmp_path, f"sqlite:///{not_a_database}")

    result = run_cli("--config", config, "agreements")

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "file is not a database" in result.stderr
    assert "sqlalche.me" not in result.stderr
