"""`reminder db copy`: moving everything from SQLite to a server, and back to SQLite.

The source is an SQLite database that has lived a little (an import, a reminder run,
a weekly digest, a renewal); the target is each database kind in turn. Every row must
arrive as it was, ids included, and the target must go on working: the next renewal
gets a new id there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from e2e.clirun import SAMPLE, RunCli
from sqlalchemy import select

from reminder.store.copy import COPIED_TABLES
from reminder.store.database import open_database

AS_OF = "2022-01-17"


def write_config(path: Path, url: str, outbox: Path) -> Path:
    """Write a config that routes the sample like config.example.toml, using `url`."""
    path.write_text(
        f"""timezone = "Europe/Istanbul"
[database]
url = "{url}"
[agreements]
default_programme = "Mevlana"
[reminders]
default_recipient = "international@example.edu"
[[coordinators]]
name = "Ayse Yilmaz"
email = "ayse.yilmaz@example.edu"
countries = ["AZ", "GE", "KZ", "KG", "MN", "RU", "UA"]
[mail]
from = "Agreement reminders <reminder@example.edu>"
transport = "outbox"
outbox_dir = "{outbox}"
""",
        encoding="utf-8",
    )
    return path


def table_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Return every copied table's rows, in primary-key order."""
    with open_database(url, migrate=False) as database, database.session(read_only=True) as s:
        return {
            table.name: [
                dict(row)
                for row in s.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            ]
            for table in COPIED_TABLES
        }


def test_everything_moves_to_another_database_and_back_to_sqlite(
    run_cli: RunCli, tmp_path: Path, database_url: str
) -> None:
    source_url = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    source = write_config(tmp_path / "source.toml", source_url, tmp_path / "outbox")
    for arguments in (
        ("import", SAMPLE),
        ("run-once", "--as-of", AS_OF, "--job", "reminders", "--job", "digest"),
        ("renew", "26", "--concluded", "2022-01-10"),
    ):
        result = run_cli("--config", source, *arguments)
        assert result.returncode == 0, result.stderr
    before = table_rows(source_url)
    assert all(before[name] for name in ("agreements", "agreement_events", "reminders"))
    assert all(before[name] for name in ("messages", "message_recipients", "job_runs"))

    copied = run_cli("--config", source, "db", "copy", "--to", database_url)

    assert copied.returncode == 0, copied.stderr
    assert "every count matches" in copied.stdout
    assert "DIFFERENT" not in copied.stdout
    assert table_rows(database_url) == before

    # A second copy into the same database is refused: it is not empty any more.
    again = run_cli("--config", source, "db", "copy", "--to", database_url)
    assert again.returncode == 2
    assert "not empty" in again.stderr
    assert "Traceback" not in again.stderr
    assert table_rows(database_url) == before

    # The copy works on its own: a renewal there gets the next id.
    target = write_config(tmp_path / "target.toml", database_url, tmp_path / "outbox")
    renewed = run_cli("--config", target, "renew", "27", "--concluded", "2022-01-12")
    assert renewed.returncode == 0, renewed.stderr
    after = table_rows(database_url)
    new_ids = {row["id"] for row in after["agreements"]} - {
        row["id"] for row in before["agreements"]
    }
    assert new_ids == {max(row["id"] for row in before["agreements"]) + 1}

    # And back to SQLite, as a backup of the server.
    backup_url = f"sqlite:///{tmp_path / 'backup' / 'reminder.sqlite3'}"
    backed_up = run_cli("--config", target, "db", "copy", "--to", backup_url)
    assert backed_up.returncode == 0, backed_up.stderr
    assert table_rows(backup_url) == after


def test_a_target_that_is_the_configured_database_is_refused(
    run_cli: RunCli, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'only.sqlite3'}"
    config = write_config(tmp_path / "config.toml", url, tmp_path / "outbox")
    assert run_cli("--config", config, "import", SAMPLE).returncode == 0

    result = run_cli("--config", config, "db", "copy", "--to", url)

    assert result.returncode == 2
    assert "is the configured database itself" in result.stderr
