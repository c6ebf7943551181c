"""Command-line interface: parse arguments, compose the parts, turn errors into exit codes.

Exit status: 0 success, 1 a run that failed or left work undone, 2 bad input or config.
A traceback is shown only with --debug.

`reminder --help` should start about as fast as Python itself, so this module imports
only argparse, os and sys. Each command names its handler as "module.function" within
this package, and that module, with the heavy ones it needs, is imported only when the
command runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from reminder import __version__

# typing itself takes a few milliseconds to import; mypy treats this name as typing's.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date
    from pathlib import Path

    Handler = Callable[[argparse.Namespace], int]
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from reminder.errors import ReminderError
    from reminder.service.logs import configure_logging

    configure_logging(verbose=args.verbose, debug=args.debug)
    try:
        if args.handler is None:  # no command given
            parser.print_help(sys.stderr)
            return 2
        return command_handler(args.handler)(args)
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


def command_handler(name: str) -> Handler:
    """Return the function `name` ("module.function", a module of this package) names.

    Raises ImportError or AttributeError when there is no such function: a bug.
    """
    from importlib import import_module

    module_name, _, function_name = name.rpartition(".")
    handler: Handler = getattr(import_module(f"{__name__}.{module_name}"), function_name)
    return handler


# --- argument parsing ------------------------------------------------------------------


def _iso_date(text: str) -> date:
    from datetime import date

    from reminder.domain.dates import day_out_of_range

    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (use YYYY-MM-DD)") from None
    reason = day_out_of_range(day)
    if reason is not None:
        raise argparse.ArgumentTypeError(reason)
    return day


def _path(text: str) -> Path:
    # pathlib pulls in urllib.parse and ipaddress: imported only when a path is given.
    from pathlib import Path

    return Path(text)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every command.

    Each parser's `handler` default names the function that runs it, for command_handler;
    None when no command is given.
    """
    parser = argparse.ArgumentParser(
        prog="reminder",
        description="Renewal reminders for partnership agreements before they expire.",
    )
    parser.add_argument("--version", action="version", version=f"reminder {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $REMINDER_CONFIG, then config.toml in "
        "$CONFIGURATION_DIRECTORY (systemd), then /etc/reminder/config.toml, then "
        "built-in defaults)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.set_defaults(handler=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_data_parsers(commands)
    _add_mail_parsers(commands)
    _add_workflow_parsers(commands)
    _add_service_parsers(commands)
    _add_web_parsers(commands)
    return parser


def _add_data_parsers(commands: Commands) -> None:
    """Add import, agreements, db (handlers in reminder.cli.data), check-config and config
    (in reminder.cli.config)."""
    p = commands.add_parser("import", help="import agreements from TSV, CSV or XLSX tables")
    p.add_argument("files", nargs="+", type=_path, metavar="FILE")
    p.add_argument("--format", dest="fmt", choices=["auto", "tsv", "csv", "xlsx"], default="auto")
    p.add_argument("--sheet", help="workbook sheet to read (default: the first)")
    p.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    p.add_argument(
        "--skip-invalid", action="store_true", help="import the good rows, list the bad ones"
    )
    p.set_defaults(handler="data.cmd_import")

    p = commands.add_parser("agreements", help="list agreements with their status")
    p.add_argument("--as-of", type=_iso_date, metavar="DATE", help="day to judge (default: today)")
    p.add_argument(
        "--status",
        choices=["active", "expiring", "expired", "superseded", "retired", "all"],
        default="all",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler="data.cmd_agreements")

    p = commands.add_parser(
        "check-config", help="validate the config and print it, secrets redacted (config check)"
    )
    p.set_defaults(handler="config.cmd_check")

    p = commands.add_parser("config", help="the configuration: check, example, reference")
    config_commands = p.add_subparsers(title="config commands", metavar="ACTION", required=True)
    config_commands.add_parser(
        "check", help="validate the config and print it, secrets redacted"
    ).set_defaults(handler="config.cmd_check")
    config_commands.add_parser(
        "example", help="print the commented example config (config.example.toml)"
    ).set_defaults(handler="config.cmd_example")
    config_commands.add_parser(
        "reference", help="print the Markdown reference of every key (docs/configuration.md)"
    ).set_defaults(handler="config.cmd_reference")

    p = commands.add_parser("db", help="database schema: upgrade, current; copy")
    db_commands = p.add_subparsers(title="db commands", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations").set_defaults(
        handler="data.cmd_db_upgrade"
    )
    db_commands.add_parser("current", help="show the schema revision").set_defaults(
        handler="data.cmd_db_current"
    )
    p = db_commands.add_parser(
        "copy", help="copy everything into an empty database (to move to a server, or back up)"
    )
    p.add_argument("--to", required=True, metavar="URL", help="the empty database to copy into")
    p.add_argument(
        "--to-password-env",
        metavar="NAME",
        help="read the target's password from this environment variable, not the URL",
    )
    p.set_defaults(handler="data.cmd_db_copy")


def _add_mail_parsers(commands: Commands) -> None:
    """Add due, run-once, preview and outbox (handlers in reminder.cli.mail)."""
    jobs = ["reminders", "digest"]
    p = commands.add_parser("due", help="what the reminder run would send today (sends nothing)")
    p.add_argument("--as-of", type=_iso_date, metavar="DATE", help="day to judge (default: today)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler="mail.cmd_due")

    p = commands.add_parser("run-once", help="one pass now: decide, record, deliver, retry")
    p.add_argument(
        "--as-of", type=_iso_date, metavar="DATE", help="day to run for (default: today)"
    )
    p.add_argument(
        "--job",
        choices=jobs,
        action="append",
        help="default: reminders; given twice (--job reminders --job digest), both run in "
        "that order, the second whatever the first returned, and the worse status is returned",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would go out; record nothing")
    p.add_argument(
        "--force",
        action="store_true",
        help="run even for a day earlier than the latest completed run's",
    )
    p.set_defaults(handler="mail.cmd_run_once")

    p = commands.add_parser("preview", help="write each digest as .eml and .html (sends nothing)")
    p.add_argument("--as-of", type=_iso_date, metavar="DATE", help="day to judge (default: today)")
    p.add_argument("--job", choices=jobs, default="reminders", help="default: reminders")
    # A string default goes through `type` too: args.out is a Path either way.
    p.add_argument("--out", type=_path, default="preview", metavar="DIR", help="default: ./preview")
    p.set_defaults(handler="mail.cmd_preview")

    p = commands.add_parser("outbox", help="pending and failed messages; `outbox retry` requeues")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler="mail.cmd_outbox")
    outbox_commands = p.add_subparsers(title="outbox commands", metavar="ACTION")
    outbox_commands.add_parser("retry", help="put failed messages back in the queue").set_defaults(
        handler="mail.cmd_outbox_retry"
    )


def _add_workflow_parsers(commands: Commands) -> None:
    """Add renew, retire, reinstate, snooze, show and export-ics (in reminder.cli.renewals).

    Ids and dates stay strings here: the handlers check them, so that a bad one is one
    line naming the option, with exit status 2.
    """
    p = commands.add_parser(
        "renew",
        help="record a renewal (--concluded) or an amendment (--until alone)",
        description="With --concluded: record the newly signed agreement, which supersedes "
        "ID; its end is --until, or --years (default: agreements.term_years) after "
        "--concluded. With --until alone: ID's end date moves (an amendment).",
    )
    p.add_argument("id", metavar="ID", help="the agreement, as `reminder agreements` lists it")
    p.add_argument("--concluded", metavar="DATE", help="the day the renewal was signed")
    p.add_argument("--until", metavar="DATE", help="the new effective-until date")
    p.add_argument("--years", metavar="N", help="term of the renewal in years")
    p.set_defaults(handler="renewals.cmd_renew")

    p = commands.add_parser("retire", help="stop reminders: the agreement will not be renewed")
    p.add_argument("id", metavar="ID")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the history")
    p.set_defaults(handler="renewals.cmd_retire")

    p = commands.add_parser("reinstate", help="undo `retire`: the agreement is active again")
    p.add_argument("id", metavar="ID")
    p.set_defaults(handler="renewals.cmd_reinstate")

    p = commands.add_parser(
        "snooze",
        help="hold back reminders until a day (the final window and the notice still go)",
    )
    p.add_argument("id", metavar="ID")
    p.add_argument("--until", metavar="DATE", help="no reminders before this day")
    p.add_argument("--clear", action="store_true", help="remove the snooze")
    p.set_defaults(handler="renewals.cmd_snooze")

    p = commands.add_parser(
        "show", help="one agreement: its predecessors, successors, reminders and history"
    )
    p.add_argument("id", metavar="ID")
    p.add_argument("--as-of", metavar="DATE", help="day to judge (default: today)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(handler="renewals.cmd_show")

    p = commands.add_parser(
        "export-ics", help="the active agreements' end dates as an iCalendar file"
    )
    p.add_argument("--out", type=_path, metavar="FILE", help="default, and with -: standard output")
    p.add_argument(
        "--coordinator", metavar="EMAIL", help="only the agreements routed to this address"
    )
    p.set_defaults(handler="renewals.cmd_export_ics")


def _add_service_parsers(commands: Commands) -> None:
    """Add serve, status and health (handlers in reminder.cli.service)."""
    p = commands.add_parser("serve", help="run as a service: scheduled runs, catch-up, retries")
    p.set_defaults(handler="service.cmd_serve")
    p = commands.add_parser("status", help="service instances, last and next runs, failed mail")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(handler="service.cmd_status")
    p = commands.add_parser(
        "health", help="exit 0 if the reminder run is on time and no mail fails for long, else 1"
    )
    p.set_defaults(handler="service.cmd_health")


def _add_web_parsers(commands: Commands) -> None:
    """Add web (in reminder.cli.service) and user (in reminder.cli.users)."""
    p = commands.add_parser("web", help="serve the web page alone (no scheduled runs)")
    p.set_defaults(handler="service.cmd_web")
    p = commands.add_parser("user", help="the web page's users: add, list, disable, passwd")
    user_commands = p.add_subparsers(title="user commands", metavar="ACTION", required=True)
    p = user_commands.add_parser("add", help="add a user; prints a one-time set-password link")
    p.add_argument("email", metavar="EMAIL")
    p.add_argument("--role", required=True, choices=["admin", "coordinator", "viewer"])
    p.add_argument("--name", help="the name pages and the history show (default: the e-mail)")
    p.add_argument(
        "--language",
        metavar="LANG",
        help="the language of the user's pages, one with a catalog (default: the browser's, "
        "else [mail] language)",
    )
    p.set_defaults(handler="users.cmd_user_add")
    p = user_commands.add_parser("list", help="every user, role and state")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler="users.cmd_user_list")
    p = user_commands.add_parser("disable", help="no more logins; ends the user's sessions")
    p.add_argument("email", metavar="EMAIL")
    p.set_defaults(handler="users.cmd_user_disable")
    p = user_commands.add_parser("passwd", help="print a new one-time set-password link")
    p.add_argument("email", metavar="EMAIL")
    p.set_defaults(handler="users.cmd_user_passwd")
