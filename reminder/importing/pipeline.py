"""One import: read tables with the importer and store them in one transaction.

Nothing is kept when any row is bad, unless the caller asks to skip bad rows; a dry
run reads and checks everything and keeps nothing (it writes inside the transaction
it rolls back, so that it finds what a real import would). `open_tables` checks every
file and header first; `import_tables` then writes the rows in batches while it reads
them, so that an import holds a batch of rows at a time, not every row. A row with the
identity of an earlier row of its file is a bad row (skipped with --skip-invalid); the
identities met are kept by the store in the database, not here, except by a dry run
that has no database.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from reminder import store
from reminder.config.schema import Config
from reminder.domain.countries import aliases_of
from reminder.domain.records import AgreementInput
from reminder.errors import InputError
from reminder.importing import rows as importer
from reminder.store.database import Database

#: Called with (lines read so far, total lines) while a table is read.
ProgressCallback = Callable[[int, int], None]
#: Rows written at a time by `import_tables`.
IMPORT_BATCH_ROWS = 1000

_Item = AgreementInput | importer.RowProblem | importer.TableWarning


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


@dataclass(frozen=True)
class OpenTable:
    """A table whose file and header were checked, its rows not read yet."""

    path: Path
    items: Iterator[_Item]
    line_count: int  # 0 unless a progress callback needs it


def open_tables(
    paths: Sequence[Path],
    config: Config,
    *,
    fmt: str = "auto",
    sheet: str | None = None,
    count_lines: bool = False,
    names: Sequence[str] | None = None,
) -> list[OpenTable]:
    """Open every table and check its header, reading no row yet.

    `count_lines` counts each table's lines for a progress bar. `names`, one per path,
    is what rows, problems and the agreements' source call each file (default: its
    path; the web page gives the name the file was uploaded under).
    Returns the tables in the order of `paths`. Raises InputError when a file as a whole
    cannot be used (missing, empty, larger than [import] max_table_megabytes, not a
    table, needed columns missing).
    """
    tables: list[OpenTable] = []
    aliases = aliases_of(config.countries.aliases)
    try:
        max_bytes = config.import_.max_table_bytes
        for index, path in enumerate(paths):
            total = (
                importer.count_lines(path, fmt=fmt, sheet=sheet, max_bytes=max_bytes)
                if count_lines
                else 0
            )
            items = importer.iter_table(
                path,
                fmt=fmt,
                sheet=sheet,
                max_bytes=max_bytes,
                term_years=config.agreements.term_years,
                default_programme=config.agreements.default_programme,
                find_duplicates=False,  # `import_tables` does, in the database
                country_aliases=aliases,
                name=None if names is None else names[index],
            )
            tables.append(OpenTable(path, items, total))
    except BaseException:
        close_tables(tables)
        raise
    return tables


def import_tables(
    database: Database | None,
    tables: Sequence[OpenTable],
    *,
    now: datetime,
    skip_invalid: bool,
    dry_run: bool,
    progress: ProgressCallback | None = None,
    actor: str | None = None,
) -> IngestReport:
    """Read `tables` and store their rows in one transaction, a batch at a time.

    The rows are written while they are read (see `store.ImportInBatches`), and the
    transaction is rolled back at the end when any row was bad (unless `skip_invalid`),
    when the store refuses rows, or for a dry run. Bad rows are collected, not raised,
    until every row was read. `database` may be None only for a dry run that has no
    database to compare with.

    Returns the report with counts filled in. Raises InputError listing every bad row
    when there are bad rows and `skip_invalid` is False; otherwise, listing every row
    the store refuses (same identity as another row, values too long), if any. Nothing
    is kept then. `actor` names who imports in the history (default: the OS user).
    """
    report = IngestReport(files=[str(table.path) for table in tables], dry_run=dry_run)
    try:
        if database is None:
            rows, too_long = _count_without_database(tables, report, progress)
            _refuse_bad_rows(report, skip_invalid)
            if too_long:
                raise InputError(too_long)
            report.rows_read = rows + len(report.problems)
            report.new = rows
            return report
        with database.session() as session:
            batches = store.ImportInBatches(session, now=now, actor=actor or _actor())
            rows = 0
            batch: list[AgreementInput] = []
            for row in _rows(tables, report, progress):
                batch.append(row)
                if len(batch) == IMPORT_BATCH_ROWS:
                    rows += _add_batch(batches, batch, report, skip_invalid)
                    batch = []
            rows += _add_batch(batches, batch, report, skip_invalid)
            report.rows_read = rows + len(report.problems)
            _refuse_bad_rows(report, skip_invalid)
            outcome = batches.finish()
            if dry_run:
                session.rollback()
            report.written = not dry_run
    finally:
        close_tables(tables)
    report.new, report.updated = outcome.new, outcome.updated
    report.unchanged, report.superseded = outcome.unchanged, outcome.superseded
    return report


def _add_batch(
    batches: store.ImportInBatches,
    batch: Sequence[AgreementInput],
    report: IngestReport,
    skip_invalid: bool,
) -> int:
    """Hand `batch` to the store, less the rows that repeat an earlier row of their file.

    Those are added to the report's problems. Once any row is bad, and bad rows are not
    skipped, the store only checks what follows (the import will be refused). Returns
    the number of rows handed on.
    """
    earlier_places = batches.earlier_places(batch)
    kept: list[AgreementInput] = []
    for row, earlier in zip(batch, earlier_places, strict=True):
        if earlier is not None and earlier.source_file == row.source_file:
            report.problems.append(str(importer.duplicate_row(row, earlier.source_line)))
        else:
            kept.append(row)
    batches.add(kept, write=skip_invalid or not report.problems)
    return len(kept)


def _count_without_database(
    tables: Sequence[OpenTable], report: IngestReport, progress: ProgressCallback | None
) -> tuple[int, list[str]]:
    """Return the number of good rows of `tables` and the problems of those a store would
    refuse as too long, adding the duplicates to the report's problems.

    For a dry run with no database yet: the identities met are kept in memory, and the
    rows too long are told as `store.ImportInBatches.finish` would tell them.
    """
    first_line_of: dict[tuple[str, str, str, date], int] = {}
    refused: list[str] = []
    rows = 0
    for row in _rows(tables, report, progress):
        place = (row.source_file, row.partner_key, row.programme_key, row.concluded)
        first_line = first_line_of.setdefault(place, row.source_line)
        if first_line != row.source_line:
            report.problems.append(str(importer.duplicate_row(row, first_line)))
        else:
            refused += store.overlong_fields(row)
            rows += 1
    return rows, refused


def _rows(
    tables: Sequence[OpenTable], report: IngestReport, progress: ProgressCallback | None
) -> Iterator[AgreementInput]:
    """Yield the good rows of `tables`, adding problems and warnings to `report`."""
    for table in tables:
        for item in table.items:
            if isinstance(item, AgreementInput):
                yield item
            elif isinstance(item, importer.RowProblem):
                report.problems.append(str(item))
            else:
                report.warnings.append(str(item))
            if progress is not None:
                line = item.line if not isinstance(item, AgreementInput) else item.source_line
                progress(line, table.line_count)


def _refuse_bad_rows(report: IngestReport, skip_invalid: bool) -> None:
    """Raise InputError listing the bad rows, unless there are none or they are skipped."""
    if report.problems and not skip_invalid:
        raise InputError(
            [
                *report.problems,
                f"nothing imported: {len(report.problems)} bad row(s); "
                "fix them or use --skip-invalid",
            ]
        )


def close_tables(tables: Sequence[OpenTable]) -> None:
    """Close the row generators of `tables` (import_tables does it when it ends)."""
    for table in tables:
        close = getattr(table.items, "close", None)
        if close is not None:
            close()


def _actor() -> str:
    """Return who runs this, for the history: the OS user name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. under DynamicUser=
        return "unknown"
