"""The data commands: import, agreements, db upgrade/current."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from reminder.cli.common import load, open_db, print_json, today

if TYPE_CHECKING:
    from reminder.config.schema import Config
    from reminder.store.database import Database


def cmd_import(args: argparse.Namespace) -> int:
    """`reminder import`: read tables, report, store (all or nothing)."""
    from datetime import UTC, datetime

    from reminder.cli.progress import progress_bar
    from reminder.importing.pipeline import close_tables, import_tables, open_tables

    config = load(args)
    with progress_bar(sys.stderr, label="importing") as progress:
        # A file that cannot be used at all is refused before the database is touched.
        tables = open_tables(
            args.files, config, fmt=args.fmt, sheet=args.sheet, count_lines=progress is not None
        )
        try:
            database = _database_for_import(config, dry_run=args.dry_run)
        except BaseException:
            close_tables(tables)
            raise
        try:
            report = import_tables(
                database,
                tables,
                now=datetime.now(UTC),
                skip_invalid=args.skip_invalid,
                dry_run=args.dry_run,
                progress=progress,
            )
        finally:
            if database is not None:
                database.close()
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in report.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    verb = "would import" if report.dry_run else "imported"
    rows = report.rows_read - len(report.problems)
    print(
        f"{verb} {rows} agreement(s) from {len(report.files)} file(s): "
        f"{report.new} new, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.superseded} superseded; {len(report.warnings)} warning(s), "
        f"{len(report.problems)} bad row(s) skipped"
    )
    return 0


def _database_for_import(config: Config, *, dry_run: bool) -> Database | None:
    """Open the database; a dry run never creates or migrates one."""
    if not dry_run:
        return open_db(config)
    from reminder.store.database import sqlite_file

    path = sqlite_file(config.database.url)
    if path is not None and not path.exists():
        return None
    database = open_db(config, migrate=False)
    if database.needs_upgrade():
        database.close()
        return None
    return database


def cmd_agreements(args: argparse.Namespace) -> int:
    """`reminder agreements`: list agreements and their status on a day."""
    from reminder.domain.windows import Status
    from reminder.store.listing import list_agreements

    config = load(args)
    as_of = args.as_of or today(config)
    status = None if args.status == "all" else Status(args.status)
    database = open_db(config)
    try:
        listed = list_agreements(
            database, as_of=as_of, status=status, windows=config.reminders.windows
        )
        if args.json:
            print_json([item.as_json() for item in listed])
        else:
            from reminder.cli.tables import agreements_table

            for line in agreements_table(listed, as_of=as_of):
                print(line)
    finally:
        database.close()
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """`reminder db upgrade`: apply pending migrations."""
    config = load(args)
    database = open_db(config, migrate=False)
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
    from reminder.store.revisions import known_revisions

    config = load(args)
    database = open_db(config, migrate=False)
    try:
        current, head = database.current_revision(), database.head_revision()
    finally:
        database.close()
    if current == head:
        state = "up to date"
    elif current is not None and current not in known_revisions():
        # `db upgrade` cannot help: the schema is ahead of this program, not behind.
        state = (
            f"written by a newer reminder (this one knows up to {head}): "
            "install that version, or a newer one"
        )
    else:
        state = f"needs `reminder db upgrade` to {head}"
    print(f"{database.display_url}: revision {current or 'none (empty)'}, {state}")
    return 0 if current == head else 1


def cmd_db_copy(args: argparse.Namespace) -> int:
    """`reminder db copy --to URL`: copy every agreement, its history, the ledger, the
    messages and the job runs into an empty database, in one transaction, then compare
    the counts of each table. Exit 0 when they match, 1 when not, 2 for a bad target."""
    import os

    from reminder.errors import InputError
    from reminder.store.copy import copy_database, prepare_copy_target
    from reminder.store.database import open_database

    config = load(args)
    password = None
    if args.to_password_env:
        password = os.environ.get(args.to_password_env)
        if password is None:
            raise InputError(f"--to-password-env: ${args.to_password_env} is not set")
    with (
        open_db(config) as source,
        open_database(args.to, password=password, migrate=False) as target,
    ):
        if source.display_url == target.display_url:
            raise InputError(f"--to: {target.display_url} is the configured database itself")
        prepare_copy_target(target)
        counts = copy_database(source, target)
    width = max(len(count.table) for count in counts)
    for count in counts:
        mark = "ok" if count.source == count.target else "DIFFERENT"
        print(f"  {count.table:<{width}}  {count.source:>9} -> {count.target:<9} {mark}")
    if any(count.source != count.target for count in counts):
        print(f"the copy in {target.display_url} does not match: see the tables marked DIFFERENT")
        return 1
    rows = sum(count.target for count in counts)
    print(
        f"copied {rows} row(s) in {len(counts)} tables to {target.display_url}; every count matches"
    )
    return 0
