"""One import: read tables with the importer, then store them in one transaction.

Nothing is written when any row is bad, unless the caller asks to skip bad rows;
a dry run reads and checks everything and writes nothing.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from reminder import importer, store
from reminder.config import Config
from reminder.db import Database
from reminder.errors import InputError
from reminder.records import AgreementInput

#: Called with (lines read so far, total lines) while a table is read.
ProgressCallback = Callable[[int, int], None]


@dataclass
class IngestReport:
    """What an import did (or, in a dry run, would do)."""

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False


def read_tables(
    paths: Sequence[Path],
    config: Config,
    *,
    fmt: str = "auto",
    sheet: str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[list[AgreementInput], IngestReport]:
    """Read and check every table; bad rows are collected, not raised.

    Returns the good rows and a report holding every problem and warning.
    Raises InputError when a file as a whole cannot be used (missing, empty, not a
    table, needed columns missing).
    """
    report = IngestReport(files=[str(p) for p in paths])
    rows: list[AgreementInput] = []
    for path in paths:
        total = importer.count_lines(path, fmt=fmt, sheet=sheet) if progress else 0
        items = importer.iter_table(
            path,
            fmt=fmt,
            sheet=sheet,
            term_years=config.agreements.term_years,
            default_programme=config.agreements.default_programme,
        )
        for item in items:
            if isinstance(item, AgreementInput):
                rows.append(item)
            elif isinstance(item, importer.RowProblem):
                report.problems.append(str(item))
            else:
                report.warnings.append(str(item))
            if progress is not None:
                progress(
                    item.line if not isinstance(item, AgreementInput) else item.source_line, total
                )
    report.rows_read = len(rows) + len(report.problems)
    return rows, report


def ingest(
    database: Database | None,
    rows: Sequence[AgreementInput],
    report: IngestReport,
    *,
    now: datetime,
    skip_invalid: bool,
    dry_run: bool,
) -> IngestReport:
    """Store `rows` (unless dry_run), all in one transaction.

    `database` may be None only for a dry run that has no database to compare with.
    Returns the report with counts filled in. Raises InputError listing every bad row
    when there are bad rows and `skip_invalid` is False; nothing is written then.
    """
    if report.problems and not skip_invalid:
        raise InputError(
            [
                *report.problems,
                f"nothing imported: {len(report.problems)} bad row(s); "
                "fix them or use --skip-invalid",
            ]
        )
    report.dry_run = dry_run
    if database is None:
        report.new = len(rows)
        return report
    with database.session() as session:
        outcome = store.apply_import(session, rows, now=now, actor=_actor())
        if dry_run:
            session.rollback()
        report.written = not dry_run
    report.new, report.updated = outcome.new, outcome.updated
    report.unchanged, report.superseded = outcome.unchanged, outcome.superseded
    return report


def _actor() -> str:
    """Return who runs this, for the history: the OS user name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. under DynamicUser=
        return "unknown"
