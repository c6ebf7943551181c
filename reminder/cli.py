"""Command-line interface: parse arguments, compose the parts, turn errors into exit codes.

Exit status: 0 success, 1 a run that failed or left work undone, 2 bad input or config.
A traceback is shown only with --debug. Heavy modules are imported inside the command
that needs them, so `reminder --help` stays quick.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reminder import __version__
from reminder.errors import ReminderError

if TYPE_CHECKING:
    from reminder.config import Config
    from reminder.db import Database

log = logging.getLogger("reminder")

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from reminder.logs import configure_logging

    configure_logging(verbose=args.verbose, debug=args.debug)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ReminderError as error:
        for problem in error.problems:
            print(f"reminder: {problem}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("reminder: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `reminder agreements | head`: the reader left; not our error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        if args.debug:
            raise
        print(
            f"reminder: internal error: {type(error).__name__}: {error} "
            "(run with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


# --- argument parsing ------------------------------------------------------------------


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (use YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every command."""
    parser = argparse.ArgumentParser(
        prog="reminder",
        description="Renewal reminders for partnership agreements before they expire.",
    )
    parser.add_argument("--version", action="version", version=f"reminder {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $REMINDER_CONFIG, "
        "then /etc/reminder/config.toml, then built-in defaults)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.set_defaults(handler=lambda _args: _usage(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = commands.add_parser("import", help="import agreements from TSV, CSV or XLSX tables")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--format", dest="fmt", choices=["auto", "tsv", "csv", "xlsx"], default="auto")
    p.add_argument("--sheet", help="workbook sheet to read (default: the first)")
    p.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    p.add_argument(
        "--skip-invalid", action="store_true", help="import the good rows, list the bad ones"
    )
    p.set_defaults(handler=cmd_import)

    p = commands.add_parser("agreements", help="list agreements with their status")
    p.add_argument("--as-of", type=_iso_date, metavar="DATE", help="day to judge (default: today)")
    p.add_argument(
        "--status",
        choices=["active", "expiring", "expired", "superseded", "retired", "all"],
        default="all",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=cmd_agreements)

    p = commands.add_parser(
        "check-config", help="validate the config and print it, secrets redacted"
    )
    p.set_defaults(handler=cmd_check_config)

    p = commands.add_parser("db", help="database schema: upgrade, current")
    db_commands = p.add_subparsers(title="db commands", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations").set_defaults(
        handler=cmd_db_upgrade
    )
    db_commands.add_parser("current", help="show the schema revision").set_defaults(
        handler=cmd_db_current
    )
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# --- composition helpers ---------------------------------------------------------------


def _config(args: argparse.Namespace) -> Config:
    from reminder.config import load_config

    return load_config(args.config)


def _open_database(config: Config, *, migrate: bool | None = None) -> Database:
    from reminder.credentials import resolve_secret
    from reminder.db import open_database

    password = resolve_secret(config.database.password, "database")
    return open_database(config.database.url, password=password, migrate=migrate)


def _today(config: Config) -> date:
    from datetime import datetime

    return datetime.now(config.zone).date()


def _print_json(data: Any) -> None:
    import json

    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


# --- commands --------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    """`reminder import`: read tables, report, store (all or nothing)."""
    from datetime import UTC, datetime

    from reminder.ingest import ingest, read_tables
    from reminder.progress import progress_bar

    config = _config(args)
    with progress_bar(sys.stderr, label="reading") as progress:
        rows, report = read_tables(
            args.files, config, fmt=args.fmt, sheet=args.sheet, progress=progress
        )
    database = _database_for_import(config, dry_run=args.dry_run)
    try:
        report = ingest(
            database,
            rows,
            report,
            now=datetime.now(UTC),
            skip_invalid=args.skip_invalid,
            dry_run=args.dry_run,
        )
    finally:
        if database is not None:
            database.close()
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in report.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    verb = "would import" if report.dry_run else "imported"
    print(
        f"{verb} {len(rows)} agreement(s) from {len(report.files)} file(s): "
        f"{report.new} new, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.superseded} superseded; {len(report.warnings)} warning(s), "
        f"{len(report.problems)} bad row(s) skipped"
    )
    return 0


def _database_for_import(config: Config, *, dry_run: bool) -> Database | None:
    """Open the database; a dry run never creates or migrates one."""
    if not dry_run:
        return _open_database(config)
    from reminder.db import sqlite_file

    path = sqlite_file(config.database.url)
    if path is not None and not path.exists():
        return None
    database = _open_database(config, migrate=False)
    if database.needs_upgrade():
        database.close()
        return None
    return database


def cmd_agreements(args: argparse.Namespace) -> int:
    """`reminder agreements`: list agreements and their status on a day."""
    from reminder.portfolio import list_agreements
    from reminder.windows import Status

    config = _config(args)
    as_of = args.as_of or _today(config)
    status = None if args.status == "all" else Status(args.status)
    database = _open_database(config)
    try:
        listed = list_agreements(
            database, as_of=as_of, status=status, windows=config.reminders.windows
        )
        if args.json:
            _print_json([item.as_json() for item in listed])
        else:
            from reminder.display import agreements_table

            for line in agreements_table(listed, as_of=as_of):
                print(line)
    finally:
        database.close()
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """`reminder check-config`: validate, then print the effective config (redacted)."""
    from reminder.config_show import effective_document, to_toml

    config = _config(args)
    source = config.source or "built-in defaults (no config file found)"
    print(f"# effective configuration from {source}")
    print(to_toml(effective_document(config)), end="")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """`reminder db upgrade`: apply pending migrations."""
    config = _config(args)
    database = _open_database(config, migrate=False)
    try:
        before = database.current_revision()
        database.upgrade()
        after = database.current_revision()
    finally:
        database.close()
    if before == after:
        print(f"{database.display_url}: already at revision {after}")
    else:
        print(f"{database.display_url}: upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    """`reminder db current`: show the schema revision and whether it is the newest."""
    config = _config(args)
    database = _open_database(config, migrate=False)
    try:
        current, head = database.current_revision(), database.head_revision()
    finally:
        database.close()
    state = "up to date" if current == head else f"needs `reminder db upgrade` to {head}"
    print(f"{database.display_url}: revision {current or 'none (empty)'}, {state}")
    return 0 if current == head else 1
