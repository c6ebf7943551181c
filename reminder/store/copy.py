"""Copying one database into another: the move from SQLite to a server, or a backup.

Everything the program keeps is copied (agreements and their history, the reminders
ledger, the messages with their recipients and states, the job runs) with the same
ids, so Message-IDs, calendar UIDs and `reminder show ID` stay the same. The rows of
`service_instances` are not: they are the heartbeats of running processes, which
belong to the database those processes use.

The target must be empty (no tables, or this program's tables with no rows); an
empty one is first brought to the newest schema revision. Every row is written in
one transaction on the target, so a copy that fails leaves it as empty as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, bindparam, func, insert, inspect, select, update
from sqlalchemy.orm import Session

from reminder.errors import InputError
from reminder.store.database import Database
from reminder.store.models import Base, ServiceInstance

#: Rows read and written at a time: bounded memory whatever the size of the database.
BATCH_ROWS = 1000

#: Every table copied, parents before children.
COPIED_TABLES: tuple[Table, ...] = tuple(
    table for table in Base.metadata.sorted_tables if table is not ServiceInstance.__table__
)


@dataclass(frozen=True)
class TableCount:
    """How many rows a table holds in the source and, after the copy, in the target."""

    table: str
    source: int
    target: int


def prepare_copy_target(target: Database) -> None:
    """Make sure `target` can receive a copy: bring an empty database to the newest
    schema revision; refuse one that holds rows or another schema revision.

    Raises InputError naming the reason; StoreError if `target` cannot be reached.
    """
    current, head = target.current_revision(), target.head_revision()
    if current is None:
        with target.session(read_only=True) as session:
            existing = set(inspect(session.connection()).get_table_names())
        ours = existing & {table.name for table in Base.metadata.sorted_tables}
        if ours:
            raise InputError(
                f"database at {target.display_url} has tables ({', '.join(sorted(ours))}) "
                "but no schema revision: copy into an empty database"
            )
        target.upgrade()
        return
    if current != head:
        raise InputError(
            f"database at {target.display_url} is at revision {current}, not {head}: "
            "copy into an empty database"
        )
    with target.session(read_only=True) as session:
        filled = [table.name for table in COPIED_TABLES if _count(session, table)]
    if filled:
        raise InputError(
            f"database at {target.display_url} is not empty ({', '.join(filled)} hold rows): "
            "copy into an empty database"
        )


def copy_database(
    source: Database,
    target: Database,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> list[TableCount]:
    """Copy every row of COPIED_TABLES from `source` into `target`, in one transaction
    on `target`, then count each table on both sides.

    `target` must have passed prepare_copy_target. `progress(table, rows)` is called
    after each batch written. Returns the counts, parents first; the caller compares.

    Raises StoreError if either database cannot be reached or a write fails.
    """
    with source.session(read_only=True) as reading, target.session() as writing:
        for table in COPIED_TABLES:
            _copy_table(reading, writing, table, progress)
        if target.dialect_name == "postgresql":
            for table in COPIED_TABLES:
                _advance_sequence(writing, table)
    with source.session(read_only=True) as reading, target.session(read_only=True) as written:
        return [
            TableCount(table.name, _count(reading, table), _count(written, table))
            for table in COPIED_TABLES
        ]


def _copy_table(
    reading: Session,
    writing: Session,
    table: Table,
    progress: Callable[[str, int], None] | None,
) -> None:
    """Copy one table in batches. A column referring to the table itself (an agreement
    superseded by a later one) is written after every row exists."""
    self_references = [
        column
        for column in table.columns
        if any(key.column.table is table for key in column.foreign_keys)
    ]
    written = 0
    for rows in _batches(reading, table):
        first_pass = [{**row, **{c.name: None for c in self_references}} for row in rows]
        writing.execute(insert(table), first_pass)
        written += len(rows)
        if progress is not None:
            progress(table.name, written)
    for column in self_references:
        _fill_self_reference(reading, writing, table, column)


def _fill_self_reference(
    reading: Session, writing: Session, table: Table, column: Column[Any]
) -> None:
    (key,) = table.primary_key.columns
    statement = (
        update(table)
        .where(key == bindparam("row_key"))
        .values({column.name: bindparam("row_value")})
    )
    query = select(key, column).where(column.is_not(None)).order_by(key)
    result = reading.execute(query.execution_options(yield_per=BATCH_ROWS))
    for partition in result.partitions():
        writing.execute(statement, [{"row_key": row[0], "row_value": row[1]} for row in partition])


def _batches(session: Session, table: Table) -> Iterator[Sequence[dict[str, Any]]]:
    """Yield the rows of `table` as dicts, BATCH_ROWS at a time, in primary-key order."""
    query = select(table).order_by(*table.primary_key.columns)
    result = session.execute(query.execution_options(yield_per=BATCH_ROWS))
    for partition in result.mappings().partitions():
        yield [dict(row) for row in partition]


def _count(session: Session, table: Table) -> int:
    return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _advance_sequence(session: Session, table: Table) -> None:
    """Move a PostgreSQL id sequence past the copied ids, so the next insert gets a new one.

    MariaDB and SQLite move their counters past an explicit id by themselves.
    """
    (key,) = table.primary_key.columns
    if key.type.python_type is not int:
        return
    sequence = func.pg_get_serial_sequence(table.name, key.name)
    next_id = func.coalesce(func.max(key), 0) + 1
    session.execute(select(func.setval(sequence, next_id, False)).select_from(table))
