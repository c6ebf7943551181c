"""Command-line interface: parse arguments, compose the parts, turn errors into exit codes.

Exit status: 0 success, 1 a run that failed or left work undone, 2 bad input or config.
A traceback is shown only with --debug. Heavy modules are imported inside the command
that needs them, so `reminder --help` stays quick.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from reminder import __version__
from reminder.cli import data, mail, service, workflow
from reminder.errors import ReminderError

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
    p.set_defaults(handler=data.cmd_import)

    p = commands.add_parser("agreements", help="list agreements with their status")
    p.add_argument("--as-of", type=_iso_date, metavar="DATE", help="day to judge (default: today)")
    p.add_argument(
        "--status",
        choices=["active", "expiring", "expired", "superseded", "retired", "all"],
        default="all",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=data.cmd_agreements)

    p = commands.add_parser(
        "check-config", help="validate the config and print it, secrets redacted"
    )
    p.set_defaults(handler=data.cmd_check_config)

    p = commands.add_parser("db", help="database schema: upgrade, current")
    db_commands = p.add_subparsers(title="db commands", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations").set_defaults(
        handler=data.cmd_db_upgrade
    )
    db_commands.add_parser("current", help="show the schema revision").set_defaults(
        handler=data.cmd_db_current
    )
    jobs = ["reminders", "digest"]
    p = commands.add_parser("due", help="what the reminder run would send today (sends nothing)")
    p.add_argument("--as-of", type=_iso_date, metavar="DATE", help="day to judge (default: today)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=mail.cmd_due)

    p = commands.add_parser("run-once", help="one pass now: decide, record, deliver, retry")
    p.add_argument(
        "--as-of", type=_iso_date, metavar="DATE", help="day to run for (default: today)"
    )
    p.add_argument("--job", choices=jobs, default="reminders", help="default: reminders")
    p.add_argument("--dry-run", action="store_true", help="print what would go out; record nothing")
    p.set_defaults(handler=mail.cmd_run_once)

    p = commands.add_parser("preview", help="write each digest as .eml and .html (sends nothing)")
    p.add_argument("--as-of", type=_iso_date, metavar="DATE", help="day to judge (default: today)")
    p.add_argument("--job", choices=jobs, default="reminders", help="default: reminders")
    p.add_argument(
        "--out", type=Path, default=Path("preview"), metavar="DIR", help="default: ./preview"
    )
    p.set_defaults(handler=mail.cmd_preview)

    p = commands.add_parser("outbox", help="pending and failed messages; `outbox retry` requeues")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=mail.cmd_outbox)
    outbox_commands = p.add_subparsers(title="outbox commands", metavar="ACTION")
    outbox_commands.add_parser("retry", help="put failed messages back in the queue").set_defaults(
        handler=mail.cmd_outbox_retry
    )
    workflow.add_parsers(commands)
    service.add_parsers(commands)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
