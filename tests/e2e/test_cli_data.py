"""The data commands end to end: import, agreements, check-config, db."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from e2e.clirun import SAMPLE, RunCli

# Checked by hand against the table: effective-until on or before 2022-01-16 is
# expired on 2022-01-17; up to 180 days ahead (2022-07-16) is expiring.
EXPIRED_ROWS = {24, 25}
EXPIRING_ROWS = {26, 27, 23, 28, 31, 29, 45, 42}


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def test_sample_imports_and_lists_as_of_publication_day(run_cli: RunCli) -> None:
    first = run_cli("import", SAMPLE)
    assert first.returncode == 0, first.stderr
    assert "68 new, 0 updated, 0 unchanged" in first.stdout
    assert "2 warning(s)" in first.stdout
    assert "'Macedonia' matched approximately to MK" in first.stderr

    again = run_cli("import", SAMPLE)
    assert again.returncode == 0
    assert "0 new, 0 updated, 68 unchanged" in again.stdout

    listed = run_cli("agreements", "--as-of", "2022-01-17", "--json")
    assert listed.returncode == 0, listed.stderr
    agreements = json.loads(listed.stdout)
    assert len(agreements) == 68
    # Ids follow the table's row numbers on a fresh import.
    by_id = {a["id"]: a for a in agreements}
    assert by_id[45]["partner"] == "Michigan State University"
    statuses = {a["id"]: a["status"] for a in agreements}
    assert {i for i, s in statuses.items() if s == "expired"} == EXPIRED_ROWS
    assert {i for i, s in statuses.items() if s == "expiring"} == EXPIRING_ROWS
    assert by_id[42]["days_left"] == 180
    assert by_id[24]["days_left"] == -16
    first_row = by_id[1]
    assert first_row["concluded"] == "2018-01-01"
    assert first_row["concluded_precision"] == "month"
    assert first_row["effective_until"] == "2023-01-01"
    assert first_row["approximate"] is True
    days = [a["effective_until"] for a in agreements]
    assert days == sorted(days)

    expiring = run_cli("agreements", "--as-of", "2022-01-17", "--status", "expiring", "--json")
    assert {a["id"] for a in json.loads(expiring.stdout)} == EXPIRING_ROWS

    table = run_cli("agreements", "--as-of", "2022-01-17")
    assert table.returncode == 0
    assert "2023-01-01~" in table.stdout
    assert "68 agreement(s) as of 2022-01-17" in table.stdout


def test_bad_rows_write_nothing_unless_skipped(run_cli: RunCli, tmp_path: Path) -> None:
    table = tmp_path / "bad.csv"
    table.write_text(
        "University;Country;Conclusion date;Effective until\n"
        "Good University;Georgia;10.01.2019;2024\n"
        "Bad University;Georgia;31.02.2019;2024\n",
        encoding="utf-8",
    )
    refused = run_cli("import", table)
    assert refused.returncode == 2
    no_traceback(refused.stderr)
    assert f"{table}:3:" in refused.stderr
    assert "nothing imported" in refused.stderr
    listed = run_cli("agreements", "--json")
    assert json.loads(listed.stdout) == []

    skipped = run_cli("import", table, "--skip-invalid")
    assert skipped.returncode == 0
    assert "1 new" in skipped.stdout
    assert f"skipped: {table}:3:" in skipped.stderr


def test_a_bad_row_after_many_good_ones_writes_nothing(run_cli: RunCli, tmp_path: Path) -> None:
    # The rows are written in batches while they are read: a bad row found after
    # several batches, and a duplicate across files, must still leave nothing stored.
    lines = ["University;Country;Conclusion date;Effective until"]
    lines += [f"University {index};Georgia;10.01.2019;2024" for index in range(2500)]
    table = tmp_path / "many.csv"
    table.write_text(
        "\n".join([*lines, "Bad University;Georgia;31.02.2019;2024"]) + "\n", encoding="utf-8"
    )
    again = tmp_path / "again.csv"
    again.write_text("\n".join([lines[0], lines[1200]]) + "\n", encoding="utf-8")

    refused = run_cli("import", table)
    assert refused.returncode == 2
    assert f"{table}:2502:" in refused.stderr
    assert "nothing imported: 1 bad row(s)" in refused.stderr

    skipped = run_cli("import", table, again, "--skip-invalid")
    assert skipped.returncode == 2
    no_traceback(skipped.stderr)
    assert f"{again}:2: same partner, programme and conclusion date as {table}:1201" in (
        skipped.stderr
    )
    assert json.loads(run_cli("agreements", "--json").stdout) == []

    dry = run_cli("import", table, "--skip-invalid", "--dry-run")
    assert "would import 2500 agreement(s)" in dry.stdout
    assert "2500 new" in dry.stdout
    imported = run_cli("import", table, "--skip-invalid")
    assert "imported 2500 agreement(s) from 1 file(s): 2500 new" in imported.stdout
    listed = json.loads(run_cli("agreements", "--json").stdout)
    assert len(listed) == 2500


def test_whole_file_problems_are_one_line_and_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    no_columns = tmp_path / "cols.csv"
    no_columns.write_text("Name,Town\nA,B\n", encoding="utf-8")
    picture = tmp_path / "photo.csv"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    for path in (tmp_path / "missing.tsv", empty, no_columns, picture):
        result = run_cli("import", path)
        assert result.returncode == 2, (path, result.stderr)
        no_traceback(result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0], result.stderr
    assert not (tmp_path / "data" / "reminder" / "reminder.sqlite3").exists()


def test_dry_run_writes_nothing(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("import", SAMPLE, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would import 68 agreement(s)" in result.stdout
    assert "68 new" in result.stdout
    database = tmp_path / "data" / "reminder" / "reminder.sqlite3"
    assert not database.exists()
    run_cli("import", SAMPLE)
    result = run_cli("import", SAMPLE, "--dry-run")
    assert "68 unchanged" in result.stdout
    with sqlite3.connect(database) as connection:
        events = connection.execute("SELECT count(*) FROM agreement_events").fetchone()[0]
    assert events == 68


def test_config_errors_exit_2_with_every_problem(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[reminders]\nwindows = [0]\n[mail]\ntransport = "x"\n', encoding="utf-8")
    config.chmod(0o600)
    result = run_cli("--config", config, "agreements")
    assert result.returncode == 2
    no_traceback(result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(str(config) in line for line in lines)


def test_check_config_prints_effective_config_redacted(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[smtp]\npassword = "hunter2"\n', encoding="utf-8")
    config.chmod(0o600)
    for command in (["check-config"], ["config", "check"]):
        result = run_cli("--config", config, *command)
        assert result.returncode == 0, result.stderr
        assert "hunter2" not in result.stdout
        assert 'password = "********"' in result.stdout
        assert "windows = [180, 90, 30, 7]" in result.stdout


def test_check_config_refuses_cron_lines_serve_could_not_run(
    run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    for line in ("61 8 * * *", "* * 1 * mon", "0 8 31 2 *"):
        config.write_text(f'[schedule]\nreminders = "{line}"\n', encoding="utf-8")
        for command in (["check-config"], ["config", "check"]):
            result = run_cli("--config", config, *command)
            assert result.returncode == 2, (line, command)
            no_traceback(result.stderr)
            assert result.stderr.startswith(
                f"reminder: {config}: at 'schedule.reminders': {line!r} "
            ), result.stderr
            assert result.stdout == ""


def test_db_commands(run_cli: RunCli) -> None:
    current = run_cli("db", "current")
    assert current.returncode == 1
    assert "needs `reminder db upgrade`" in current.stdout
    upgraded = run_cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from empty to" in upgraded.stdout
    assert run_cli("db", "current").returncode == 0


def test_db_current_on_a_database_a_newer_reminder_wrote(run_cli: RunCli, tmp_path: Path) -> None:
    assert run_cli("db", "upgrade").returncode == 0
    database = tmp_path / "data" / "reminder" / "reminder.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")

    current = run_cli("db", "current")

    assert current.returncode == 1
    assert "revision 0099, written by a newer reminder" in current.stdout
    assert "db upgrade" not in current.stdout


def test_unreachable_database_is_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "postgresql://x@127.0.0.1:1/x"\n', encoding="utf-8")
    result = run_cli("--config", config, "agreements")
    assert result.returncode == 1
    no_traceback(result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
