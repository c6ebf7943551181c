"""The workflow commands: renew, retire, reinstate, snooze, show, export-ics.

Their arguments are declared in reminder.cli but checked here rather than by argparse,
so a bad id or date is one line naming the option, with exit status 2. Every change is
recorded in the agreement's history with the OS user who ran the command.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from reminder.cli.common import load, open_db, print_json, today
from reminder.errors import InputError

if TYPE_CHECKING:
    from reminder.config.schema import Config
    from reminder.domain.reminder_digest import ReminderDigest
    from reminder.mail.mime import Attachment
    from reminder.runs.context import AttachmentMaker
    from reminder.store.database import Database


# --- arguments -----------------------------------------------------------------------------


#: The largest id an agreement can have: ids are 32-bit integers on PostgreSQL and
#: MariaDB, and a larger number would be a database error rather than "no such id".
LARGEST_ID = 2**31 - 1


def agreement_id(text: str) -> int:
    """Return the agreement id written as `text`. Raises InputError unless it is one."""
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= LARGEST_ID:
        raise InputError(f"{text!r} is not an agreement id: give the number `agreements` lists")
    return int(text)


def option_date(option: str, text: str) -> date:
    """Return the date given to `option` as YYYY-MM-DD, within the years reminder works
    with. Raises InputError otherwise."""
    from reminder.domain.dates import day_out_of_range

    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a date (use YYYY-MM-DD)") from None
    reason = day_out_of_range(day)
    if reason is not None:
        raise InputError(f"{option}: {reason}")
    return day


def option_count(option: str, text: str) -> int:
    """Return the whole number given to `option`. Raises InputError otherwise."""
    if not text.isascii() or not text.isdigit():
        raise InputError(f"{option}: {text!r} is not a whole number of years")
    return int(text)


def os_user() -> str:
    """Return who runs the command, for the history: the OS user name, or "unknown"."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. under DynamicUser=
        return "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


# --- the commands --------------------------------------------------------------------------


def cmd_renew(args: argparse.Namespace) -> int:
    """`reminder renew`: record a renewal as a new agreement, or amend the end date."""
    from reminder import store
    from reminder.domain.renewal_rules import renewal_until

    number = agreement_id(args.id)
    until = option_date("--until", args.until) if args.until is not None else None
    if args.concluded is None:
        if until is None:
            raise InputError(
                "give --concluded DATE for a renewal, or --until DATE alone for an amendment"
            )
        if args.years is not None:
            raise InputError("--years needs --concluded: an amendment gives --until")
        return _amend(args, number, until)
    concluded = option_date("--concluded", args.concluded)
    years = option_count("--years", args.years) if args.years is not None else None
    config = load(args)
    effective_until, source = renewal_until(
        concluded, until=until, years=years, term_years=config.agreements.term_years
    )
    with open_db(config) as database, database.session() as session:
        renewal = store.renew_agreement(
            session,
            number,
            concluded=concluded,
            effective_until=effective_until,
            until_source=source,
            now=_now(),
            actor=os_user(),
        )
    print(
        f"agreement #{renewal.renewal_id} recorded: the renewal of #{renewal.renewed_id}, "
        f"concluded {renewal.concluded.isoformat()}, "
        f"until {renewal.effective_until.isoformat()}"
    )
    for superseded in renewal.superseded_ids:
        print(f"agreement #{superseded} is superseded by #{renewal.renewal_id}: no more reminders")
    return 0


def _amend(args: argparse.Namespace, number: int, until: date) -> int:
    from reminder import store

    config = load(args)
    with open_db(config) as database, database.session() as session:
        amendment = store.amend_agreement(
            session, number, effective_until=until, now=_now(), actor=os_user()
        )
    if amendment.previous_until == amendment.effective_until:
        print(f"agreement #{number} already ends on {until.isoformat()}: nothing changed")
    else:
        print(
            f"agreement #{number} now ends on {until.isoformat()} "
            f"(was {amendment.previous_until.isoformat()}); its reminders start afresh"
        )
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    """`reminder retire`: the office will not renew; no more reminders."""
    from reminder import store

    number = agreement_id(args.id)
    config = load(args)
    with open_db(config) as database, database.session() as session:
        store.retire_agreement(session, number, reason=args.reason, now=_now(), actor=os_user())
    print(f"agreement #{number} retired: no more reminders (`reminder reinstate {number}` undoes)")
    return 0


def cmd_reinstate(args: argparse.Namespace) -> int:
    """`reminder reinstate`: undo a retirement."""
    from reminder import store

    number = agreement_id(args.id)
    config = load(args)
    with open_db(config) as database, database.session() as session:
        outcome = store.reinstate_agreement(session, number, now=_now(), actor=os_user())
    where = (
        f"superseded by #{outcome.superseded_by_id}"
        if outcome.superseded_by_id is not None
        else str(outcome.lifecycle)
    )
    print(f"agreement #{number} reinstated: {where}")
    return 0


def cmd_snooze(args: argparse.Namespace) -> int:
    """`reminder snooze`: no reminders before a day, except the final window and the notice."""
    from reminder import store

    number = agreement_id(args.id)
    if args.clear == (args.until is not None):
        raise InputError("give either --until DATE or --clear")
    until = None if args.clear else option_date("--until", args.until)
    config = load(args)
    with open_db(config) as database, database.session() as session:
        previous = store.snooze_agreement(
            session, number, until=until, today=today(config), now=_now(), actor=os_user()
        )
    if until is None:
        print(
            f"agreement #{number}: snooze cleared"
            if previous is not None
            else f"agreement #{number} was not snoozed: nothing changed"
        )
    else:
        final = min(config.reminders.windows)
        print(
            f"agreement #{number}: no reminders before {until.isoformat()}, except the "
            f"{final}-day reminder and the expiry notice"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """`reminder show`: the agreement, its family, its reminders and its history."""
    from reminder import store

    number = agreement_id(args.id)
    as_of = option_date("--as-of", args.as_of) if args.as_of is not None else None
    config = load(args)
    as_of = as_of or today(config)
    with open_db(config) as database, database.session(read_only=True) as session:
        record = store.agreement_record(session, number)
    if record is None:
        raise InputError(f"no agreement #{number}: see `reminder agreements`")
    from reminder.cli.show import record_json, record_lines

    if args.json:
        print_json(record_json(record, config, as_of))
    else:
        for line in record_lines(record, config, as_of):
            print(line)
    return 0


def cmd_export_ics(args: argparse.Namespace) -> int:
    """`reminder export-ics`: the active agreements as a calendar, with alarms at the windows."""
    from reminder import store
    from reminder.domain.records import Lifecycle
    from reminder.domain.reminder_digest import Router
    from reminder.mail.calendar import portfolio_calendar

    config = load(args)
    wanted = args.coordinator.strip().casefold() if args.coordinator else None
    router = Router(config.coordinators, config.reminders.default_recipient, config.mail.language)
    # The calendar is in the language of the coordinator it is for, else the office's.
    language = next(
        (config.language_of(c) for c in config.coordinators if c.email.casefold() == wanted),
        config.mail.language,
    )
    with open_db(config) as database, database.session(read_only=True) as session:
        agreements = [
            view
            for view in store.iter_agreement_views(session, lifecycles={Lifecycle.ACTIVE})
            if wanted is None or any(r.email.casefold() == wanted for r in router.recipients(view))
        ]
    content = portfolio_calendar(
        agreements,
        organizer=config.mail.sender,
        windows=config.reminders.windows,
        today=today(config),
        stamp=_now(),
        language=language,
    )
    if args.out is None or str(args.out) == "-":
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    else:
        from reminder.mail.files import write_private_file

        try:
            write_private_file(args.out, content)
        except OSError as error:
            raise InputError(f"{args.out}: cannot write: {error.strerror or error}") from None
        print(f"{len(agreements)} agreement(s) written to {args.out}", file=sys.stderr)
    if wanted is not None and not agreements:
        print(f"warning: no active agreement is routed to {args.coordinator}", file=sys.stderr)
    return 0


# --- composition ---------------------------------------------------------------------------


def calendar_attachments(config: Config, database: Database) -> AttachmentMaker:
    """Return the Context's attachment maker: the .ics files of each reminder digest.

    The events a renewal or an amendment replaced are read from the ledger here, at
    composition level, so that reminder.mail.calendar stays free of database access.
    """
    from reminder import store
    from reminder.runs.planning import ledger_address

    def attachments(digest: ReminderDigest) -> list[Attachment]:
        # icalendar takes tens of milliseconds to import: not for a run with nothing due,
        # nor for `reminder due`, which builds the same context but writes no digest.
        from reminder.mail.calendar import digest_attachments

        with database.session(read_only=True) as session:
            replaced = store.replaced_events(
                session, ledger_address(digest.recipient.email), as_of=digest.as_of
            )
        return digest_attachments(
            digest,
            organizer=config.mail.sender,
            windows=config.reminders.windows,
            replaced=replaced,
        )

    return attachments
