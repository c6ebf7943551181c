"""Numbers and dates no agreement can have: one line and exit 2, never an internal error,
and nothing recorded that a later command would choke on."""

from __future__ import annotations

import resource
import zipfile
from pathlib import Path

import pytest
from e2e.clirun import REPO, SAMPLE, RunCli

EXAMPLE_CONFIG = REPO / "config.example.toml"


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (("show", "9223372036854775808"), "is not an agreement id"),
        (("renew", "26", "--concluded", "9999-12-31"), "--concluded: 9999-12-31 is outside"),
        (("renew", "26", "--until", "9999-12-31"), "--until: 9999-12-31 is outside"),
        (("renew", "26", "--concluded", "2022-01-01", "--years", "99999"), "--years must be"),
        (("agreements", "--as-of", "9999-12-31"), "--as-of: 9999-12-31 is outside"),
        (("run-once", "--as-of", "0001-01-01"), "--as-of: 0001-01-01 is outside"),
    ],
)
def test_impossible_ids_and_dates_are_one_line_and_change_nothing(
    run_cli: RunCli, arguments: tuple[str, ...], said: str
) -> None:
    config = ("--config", EXAMPLE_CONFIG)
    assert run_cli(*config, "import", SAMPLE).returncode == 0

    result = run_cli(*config, *arguments)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert said in result.stderr.splitlines()[-1]
    # Nothing that breaks the calendar was recorded.
    calendar = run_cli(*config, "export-ics")
    assert calendar.returncode == 0, calendar.stderr
    shown = run_cli(*config, "show", "26")
    assert shown.returncode == 0, shown.stderr


def test_a_nul_byte_deep_in_a_table_is_one_line_and_nothing_is_stored(
    run_cli: RunCli, tmp_path: Path
) -> None:
    table = tmp_path / "agreements.tsv"
    rows = "".join(f"University {n}\tLatvia\t01.01.2020\t01.01.2025\n" for n in range(400))
    text = ("University\tCountry\tConclusion date\tEffective until\n" + rows).encode()
    assert len(text) > 8192  # past the part read to sniff the format
    table.write_bytes(text + b"Riga\x00 University\tLatvia\t01.01.2020\t01.01.2025\n")

    result = run_cli("--config", EXAMPLE_CONFIG, "import", table)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{table}: not a table: a NUL byte at byte {len(text) + 5}" in result.stderr
    listed = run_cli("--config", EXAMPLE_CONFIG, "agreements", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "[]"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_as_the_table_is_refused_at_once(run_cli: RunCli, device: str) -> None:
    result = run_cli("--config", EXAMPLE_CONFIG, "import", device, timeout=20)

    assert result.returncode == 2
    assert result.stderr == f"reminder: {device}: not a regular file: give the table's file\n"


def test_a_workbook_unpacking_to_two_gigabytes_is_refused_before_it_is_read(
    run_cli: RunCli, tmp_path: Path
) -> None:
    # 2 GB of blank space between a sheet's rows packs into a few MB; reading it used to
    # take 3 GB of memory and end in MemoryError. The default limit refuses it unread.
    bomb = tmp_path / "agreements.xlsx"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet,
    ):
        sheet.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml')
        sheet.write(b'/2006/main"><sheetData>')
        blank = b" " * (1 << 24)
        for _ in range(128):
            sheet.write(blank)
        sheet.write(b"</sheetData></worksheet>")
    assert bomb.stat().st_size < 20_000_000
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    result = run_cli("--config", EXAMPLE_CONFIG, "import", bomb, timeout=30)

    assert result.returncode == 2
    assert result.stderr == (
        f"reminder: {bomb}: the workbook unpacks to 2,147.5 MB, larger than the limit of "
        "500.0 MB (import.max_table_megabytes)\n"
    )
    # Peak memory of the children so far (kB): the refusal read nothing of the sheet.
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < max(before, 300_000)


def test_the_table_size_limit_is_read_from_the_config(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "reminder.toml"
    example = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert "\nmax_table_megabytes = 500\n" in example
    config.write_text(example.replace("max_table_megabytes = 500", "max_table_megabytes = 1"))
    table = tmp_path / "agreements.tsv"
    rows = "".join(f"University {n}\tLatvia\t01.01.2020\t01.01.2025\n" for n in range(30_000))
    table.write_text("University\tCountry\tConclusion date\tEffective until\n" + rows)

    refused = run_cli("--config", config, "import", table)
    accepted = run_cli("--config", EXAMPLE_CONFIG, "import", table)

    assert refused.returncode == 2
    assert refused.stderr.endswith("larger than the limit of 1.0 MB (import.max_table_megabytes)\n")
    assert refused.stderr.count("\n") == 1
    assert accepted.returncode == 0, accepted.stderr


@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])
def test_a_partner_name_of_100_kb_is_one_line(
    run_cli: RunCli, tmp_path: Path, dry_run: bool
) -> None:
    table = tmp_path / "agreements.tsv"
    table.write_text(
        "University\tCountry\tConclusion date\tEffective until\n"
        f"{'Riga ' * 20_000}\tLatvia\t01.01.2020\t01.01.2025\n"
    )

    result = run_cli("--config", EXAMPLE_CONFIG, "import", *["--dry-run"] * dry_run, table)

    assert result.returncode == 2
    # The name is too long for the store; the key made of it is not a second problem.
    assert result.stderr == (
        f"reminder: {table}:2: partner is 99,999 characters long, at most 300 fit\n"
    )
