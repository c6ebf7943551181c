"""Queries and writes on the database; every function takes the caller's Session.

The agreement part: importing validated rows, working out which agreement of a partner
in a programme is the current one, and listing agreements. Time is passed in (`now`),
never read from the clock.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Dialect,
    RowMapping,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from reminder.errors import InputError
from reminder.models import AGREEMENT_STRING_LENGTHS, Agreement, AgreementEvent, EventAction
from reminder.records import AgreementInput, Lifecycle

# Partners whose agreements are loaded with one query; a thousand bound parameters fit
# every database's limit, and all agreements of a partner land in the same chunk.
IMPORT_CHUNK_PARTNERS = 1000
# Rows fetched at a time while streaming agreements.
STREAM_BATCH_ROWS = 1000

# Fields compared on import; a difference in any of them makes the agreement "updated".
_COMPARED_FIELDS = (
    "partner",
    "country",
    "country_code",
    "country_match",
    "programme",
    "notes",
    "concluded_precision",
    "effective_until",
    "effective_until_source",
    "approximate",
    "coordinator_email",
    "data_warnings",
)
_PROVENANCE_FIELDS = ("source_file", "source_line")
# The columns an import fills, in the order of `_imported_row`.
_IMPORTED_COLUMNS = (
    "partner",
    "partner_key",
    "country",
    "country_code",
    "country_match",
    "programme",
    "programme_key",
    "notes",
    "concluded",
    "concluded_precision",
    "effective_until",
    "effective_until_source",
    "approximate",
    "coordinator_email",
    "source_file",
    "source_line",
    "data_warnings",
)
# A new agreement: the imported columns, then these (see `_plan_writes`).
_NEW_AGREEMENT_COLUMNS = (*_IMPORTED_COLUMNS, "lifecycle", "created_at", "updated_at")
_EVENT_COLUMNS = ("agreement_id", "at", "actor", "action", "details")
# How a driver's paramstyle writes a positional parameter; see `_insert_rows`.
_POSITIONAL_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_STORED_FIELDS = (
    "id",
    "partner_key",
    "programme_key",
    "concluded",
    *_COMPARED_FIELDS,
    *_PROVENANCE_FIELDS,
)
# Free-text fields: an event says that they changed, not what they hold.
_TEXT_FIELDS = frozenset({"partner", "country", "programme", "notes", "data_warnings"})

_Identity = tuple[str, str, date]
_Group = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What an import changed.

    `superseded` counts agreements whose lifecycle became superseded, new ones included;
    `current_again` counts superseded agreements that became the current one again.
    """

    new: int
    updated: int
    unchanged: int
    superseded: int
    current_again: int


@dataclass(frozen=True, slots=True)
class SupersessionChanges:
    """Agreements whose lifecycle a supersession pass changed, by id."""

    superseded_ids: tuple[int, ...] = ()
    current_again_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Member:
    """What supersession needs to know of one agreement of a partner and programme."""

    id: int
    effective_until: date
    concluded: date
    lifecycle: Lifecycle
    superseded_by_id: int | None


@dataclass(frozen=True, slots=True)
class _Change:
    """A new supersession state for one agreement."""

    agreement_id: int
    previous_lifecycle: Lifecycle
    lifecycle: Lifecycle
    superseded_by_id: int | None
    details: str = ""

    @property
    def newly_superseded(self) -> bool:
        """Return whether an active agreement became superseded."""
        return (
            self.previous_lifecycle is Lifecycle.ACTIVE and self.lifecycle is Lifecycle.SUPERSEDED
        )

    @property
    def current_again(self) -> bool:
        """Return whether a superseded agreement became the current one again."""
        return (
            self.previous_lifecycle is Lifecycle.SUPERSEDED and self.lifecycle is Lifecycle.ACTIVE
        )

    @property
    def action(self) -> EventAction | None:
        """Return the event this change is worth; None for fixing a stale pointer."""
        if self.lifecycle is Lifecycle.SUPERSEDED:
            return EventAction.SUPERSEDED
        return EventAction.CURRENT_AGAIN if self.current_again else None


def apply_import(
    session: Session, rows: Sequence[AgreementInput], *, now: datetime, actor: str
) -> ImportOutcome:
    """Store `rows`: insert new agreements, update changed ones, then redo supersession.

    An agreement is identified by partner_key + programme_key + concluded. It counts as
    updated when a stored field other than its provenance (source_file, source_line)
    differs; a different provenance alone is refreshed without counting or an event.
    Rows equal to what is stored issue no UPDATE at all. Every new or updated agreement
    gets an event by `actor` at `now`. Supersession is recomputed for each partner and
    programme that has a row in the import (see `resupersede`).

    The writes are bulk statements, a few per thousand partners: Agreement objects
    already loaded in `session` are not refreshed by them.

    Returns the counts. Raises InputError, before writing anything, naming FILE:LINE
    for rows with the same identity or with values longer than their columns; raises
    ValueError if `now` is naive.
    """
    _require_aware(now)
    _check_rows(rows)
    rows_by_partner: dict[str, list[AgreementInput]] = defaultdict(list)
    for row in rows:
        rows_by_partner[row.partner_key].append(row)
    partner_keys = sorted(rows_by_partner)
    tally: dict[str, int] = defaultdict(int)
    for start in range(0, len(partner_keys), IMPORT_CHUNK_PARTNERS):
        chunk = partner_keys[start : start + IMPORT_CHUNK_PARTNERS]
        chunk_rows = [row for key in chunk for row in rows_by_partner[key]]
        _import_chunk(session, chunk, chunk_rows, now=now, actor=actor, tally=tally)
    return ImportOutcome(
        new=tally["new"],
        updated=tally["updated"],
        unchanged=tally["unchanged"],
        superseded=tally["superseded"],
        current_again=tally["current_again"],
    )


class ImportInBatches:
    """An import written batch by batch while its rows are read, in the caller's session.

    The rules are apply_import's, for all the batches together: the same checks (a
    duplicate is found across batches), the same stored agreements and events, and
    supersession redone once, by `finish`, for every partner and programme met. New
    agreements get their ids in the order of the batches, each sorted by file and line.
    Only the identities met, with their file and line, are kept between batches.

    All or nothing is the caller's: everything is written in `session`'s transaction,
    which the caller rolls back when `finish` raises or when it finds problems of its
    own (as `Database.session` does on an exception).
    """

    def __init__(self, session: Session, *, now: datetime, actor: str) -> None:
        """Start an import at `now` by `actor`. Raises ValueError if `now` is naive."""
        _require_aware(now)
        self._session = session
        self._now = now
        self._actor = actor
        # Every identity met, in table order, with its (file, line, new): duplicates
        # across batches are found here, and `finish` takes from it the partners and
        # programmes to look at and the new agreements to record an event for.
        self._first_seen: dict[_Identity, tuple[str, int, bool]] = {}
        self._tally: dict[str, int] = defaultdict(int)
        self._problems: list[str] = []
        # Into an empty table (a first import) every row is new: no need to look for
        # stored agreements batch after batch. Known at the first batch.
        self._table_was_empty: bool | None = None

    def add(self, rows: Sequence[AgreementInput]) -> None:
        """Check `rows` and, while no batch had a problem, write them.

        Once a problem is found nothing more is written (the transaction is to be
        rolled back), but later rows are still checked so that `finish` names them all.
        """
        self._problems += _row_problems(rows, self._first_seen)
        if self._problems:
            return
        if self._table_was_empty is None:
            self._table_was_empty = self._session.scalar(select(Agreement.id).limit(1)) is None
        rows_by_partner: dict[str, list[AgreementInput]] = defaultdict(list)
        for row in rows:
            rows_by_partner[row.partner_key].append(row)
        partner_keys = sorted(rows_by_partner)
        for start in range(0, len(partner_keys), IMPORT_CHUNK_PARTNERS):
            chunk = partner_keys[start : start + IMPORT_CHUNK_PARTNERS]
            chunk_rows = [row for key in chunk for row in rows_by_partner[key]]
            writes = _write_chunk(
                self._session,
                chunk,
                chunk_rows,
                now=self._now,
                tally=self._tally,
                nothing_stored=self._table_was_empty,
            )
            # Their ids are read by `finish`, which loads these agreements anyway.
            for identity, _ in writes.new_events:
                source_file, source_line, _ = self._first_seen[identity]
                self._first_seen[identity] = (source_file, source_line, True)
            _record_events(self._session, writes.events, now=self._now, actor=self._actor)

    def finish(self) -> ImportOutcome:
        """Redo supersession for every partner and programme the batches had rows of.

        Records the events of the new agreements first. Returns the counts of all batches.
        Raises InputError naming FILE:LINE of every duplicate or over-long row of all
        batches; the caller must then roll back.
        """
        if self._problems:
            raise InputError(self._problems)
        # The identities are taken in table order, a thousand partners at a time. A
        # partner met again in a later chunk is looked at again, and finds its groups
        # already settled: every row was written before this pass.
        chunk: dict[str, list[_Identity]] = defaultdict(list)
        for identity in self._first_seen:
            if identity[0] not in chunk and len(chunk) == IMPORT_CHUNK_PARTNERS:
                self._finish_chunk(chunk)
                chunk = defaultdict(list)
            chunk[identity[0]].append(identity)
        if chunk:
            self._finish_chunk(chunk)
        return ImportOutcome(
            new=self._tally["new"],
            updated=self._tally["updated"],
            unchanged=self._tally["unchanged"],
            superseded=self._tally["superseded"],
            current_again=self._tally["current_again"],
        )

    def _finish_chunk(self, identities_by_partner: Mapping[str, Sequence[_Identity]]) -> None:
        """Record the imported events and redo supersession for these identities."""
        members = _load_members(self._session, list(identities_by_partner))
        events: list[tuple[int, EventAction, str]] = []
        touched: set[_Group] = set()
        for identities in identities_by_partner.values():
            for identity in identities:
                touched.add(identity[:2])
                source_file, source_line, new = self._first_seen[identity]
                if new:
                    details = f"from {source_file}:{source_line}"
                    events.append((members[identity].id, EventAction.IMPORTED, details))
        changes = _supersede(self._session, members, touched, now=self._now, tally=self._tally)
        events += _change_events(changes)
        _record_events(self._session, events, now=self._now, actor=self._actor)


def resupersede(
    session: Session, partner_key: str, programme_key: str, *, now: datetime, actor: str
) -> SupersessionChanges:
    """Make the agreement of this partner and programme that ends last the current one.

    The current agreement is the one with the latest effective_until, ties broken by
    the latest conclusion date, then the highest id. It becomes active; the others
    become superseded, pointing at it. Retired agreements keep their lifecycle but take
    part in the ordering: when the newest agreement was retired, the older ones stay
    superseded by it instead of coming back to life. Each change gets an event by
    `actor` at `now`; the Agreement objects in `session` are updated.

    Returns the ids whose lifecycle changed. Raises ValueError if `now` is naive.
    """
    _require_aware(now)
    agreements = {
        agreement.id: agreement
        for agreement in session.scalars(
            select(Agreement).where(
                Agreement.partner_key == partner_key, Agreement.programme_key == programme_key
            )
        )
    }
    changes = _plan_supersession([_member(agreement) for agreement in agreements.values()])
    for change in changes:
        agreement = agreements[change.agreement_id]
        agreement.lifecycle = change.lifecycle
        agreement.superseded_by_id = change.superseded_by_id
        agreement.updated_at = now
    session.flush()
    _record_events(session, _change_events(changes), now=now, actor=actor)
    return SupersessionChanges(
        superseded_ids=tuple(change.agreement_id for change in changes if change.newly_superseded),
        current_again_ids=tuple(change.agreement_id for change in changes if change.current_again),
    )


def iter_agreements(
    session: Session,
    *,
    lifecycles: Collection[Lifecycle] | None = None,
    until_from: date | None = None,
    until_to: date | None = None,
) -> Iterator[Agreement]:
    """Yield agreements ordered by effective_until then id, streamed in batches.

    `lifecycles` keeps only those lifecycles; `until_from` and `until_to` bound
    effective_until, both inclusive. Do not run other statements on `session` while
    iterating: MariaDB/MySQL streams over the connection and cannot interleave them
    (collect into a list first if you must).
    """
    statement = (
        select(Agreement)
        .where(*agreement_filters(lifecycles, until_from, until_to))
        .order_by(Agreement.effective_until, Agreement.id)
    )
    yield from session.scalars(statement.execution_options(yield_per=STREAM_BATCH_ROWS))


def agreement_filters(
    lifecycles: Collection[Lifecycle] | None, until_from: date | None, until_to: date | None
) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions for a lifecycle set and an inclusive end-date range."""
    conditions: list[ColumnElement[bool]] = []
    if lifecycles is not None:
        conditions.append(Agreement.lifecycle.in_(list(lifecycles)))
    if until_from is not None:
        conditions.append(Agreement.effective_until >= until_from)
    if until_to is not None:
        conditions.append(Agreement.effective_until <= until_to)
    return conditions


def get_agreement(session: Session, agreement_id: int) -> Agreement | None:
    """Return the agreement with `agreement_id`, or None if there is none."""
    return session.get(Agreement, agreement_id)


def agreement_history(session: Session, agreement_id: int) -> list[AgreementEvent]:
    """Return the events of the agreement with `agreement_id`, oldest first."""
    return list(
        session.scalars(
            select(AgreementEvent)
            .where(AgreementEvent.agreement_id == agreement_id)
            .order_by(AgreementEvent.at, AgreementEvent.id)
        )
    )


def count_agreements(session: Session) -> int:
    """Return how many agreements are stored, whatever their lifecycle."""
    return session.scalar(select(func.count()).select_from(Agreement)) or 0


def _import_chunk(
    session: Session,
    partner_keys: Sequence[str],
    rows: Sequence[AgreementInput],
    *,
    now: datetime,
    actor: str,
    tally: dict[str, int],
) -> None:
    """Import `rows`, which are all the rows of `partner_keys`, adding to `tally`."""
    writes = _write_chunk(session, partner_keys, rows, now=now, tally=tally)
    members = _load_members(session, partner_keys)
    touched = {(row.partner_key, row.programme_key) for row in rows}
    changes = _supersede(session, members, touched, now=now, tally=tally)
    events = [
        (members[identity].id, EventAction.IMPORTED, details)
        for identity, details in writes.new_events
    ]
    events += writes.events + _change_events(changes)
    _record_events(session, events, now=now, actor=actor)


def _write_chunk(
    session: Session,
    partner_keys: Sequence[str],
    rows: Sequence[AgreementInput],
    *,
    now: datetime,
    tally: dict[str, int],
    nothing_stored: bool = False,
) -> _Writes:
    """Insert and update the agreements of `rows` (all the rows of `partner_keys`).

    `nothing_stored` says that no agreement of `partner_keys` is stored yet.
    Returns the writes, whose events are not recorded yet. Adds to `tally`.
    """
    stored = {} if nothing_stored else _load_stored(session, partner_keys)
    writes = _plan_writes(rows, stored, now)
    # New agreements get their ids in table order, so row 1 of a fresh import is id 1
    # (apply_import: within a chunk of partners; ImportInBatches: across the batches):
    # people quote ids from the listing next to their own table.
    source_file, source_line = (_IMPORTED_COLUMNS.index(name) for name in _PROVENANCE_FIELDS)
    writes.new_rows.sort(key=lambda values: (values[source_file], values[source_line]))
    _insert_rows(session, Agreement.__table__, _NEW_AGREEMENT_COLUMNS, writes.new_rows)
    # Each statement gets parameter sets with the same keys, so it runs as one batch.
    for statement, parameters in (
        (update(Agreement), writes.updated_rows),
        (update(Agreement), writes.moved_rows),
    ):
        if parameters:
            session.execute(statement, parameters)
    tally["new"] += len(writes.new_rows)
    tally["updated"] += len(writes.updated_rows)
    tally["unchanged"] += len(rows) - len(writes.new_rows) - len(writes.updated_rows)
    return writes


def _supersede(
    session: Session,
    members: Mapping[_Identity, _Member],
    touched: Collection[_Group],
    *,
    now: datetime,
    tally: dict[str, int],
) -> list[_Change]:
    """Redo supersession in the `touched` groups of `members`; add to `tally`.

    Returns the changes written, whose events are not recorded yet.
    """
    groups: dict[_Group, list[_Member]] = defaultdict(list)
    for (partner_key, programme_key, _), member in members.items():
        if (partner_key, programme_key) in touched:
            groups[partner_key, programme_key].append(member)
    changes = [change for group in groups.values() for change in _plan_supersession(group)]
    _update_agreements(
        session,
        ("lifecycle", "superseded_by_id", "updated_at"),
        [
            (change.lifecycle, change.superseded_by_id, now, change.agreement_id)
            for change in changes
        ],
    )
    tally["superseded"] += sum(change.newly_superseded for change in changes)
    tally["current_again"] += sum(change.current_again for change in changes)
    return changes


@dataclass(slots=True)
class _Writes:
    """The statements an import chunk needs, as parameter sets."""

    # Values in _NEW_AGREEMENT_COLUMNS order.
    new_rows: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    updated_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    moved_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # provenance only
    # Events of new agreements, whose ids are known only once they are inserted.
    new_events: list[tuple[_Identity, str]] = dataclasses.field(default_factory=list)
    events: list[tuple[int, EventAction, str]] = dataclasses.field(default_factory=list)


def _plan_writes(
    rows: Sequence[AgreementInput], stored: Mapping[_Identity, RowMapping], now: datetime
) -> _Writes:
    """Return the inserts, updates and events that bring `stored` in line with `rows`."""
    writes = _Writes()
    for row in rows:
        provenance = f"from {row.source_file}:{row.source_line}"
        identity = _identity(row)
        existing = stored.get(identity)
        if existing is None:
            writes.new_rows.append((*_imported_row(row), Lifecycle.ACTIVE, now, now))
            writes.new_events.append((identity, provenance))
            continue
        imported = _imported_values(row)
        differences = _differences(existing, imported)
        if differences:
            writes.updated_rows.append(
                {name: imported[name] for name in _COMPARED_FIELDS + _PROVENANCE_FIELDS}
                | {"id": existing["id"], "updated_at": now}
            )
            writes.events.append(
                (existing["id"], EventAction.UPDATED, f"{differences}; {provenance}")
            )
        elif any(existing[name] != imported[name] for name in _PROVENANCE_FIELDS):
            writes.moved_rows.append(
                {name: imported[name] for name in _PROVENANCE_FIELDS} | {"id": existing["id"]}
            )
    return writes


def _load_stored(session: Session, partner_keys: Sequence[str]) -> dict[_Identity, RowMapping]:
    """Return the imported fields of every agreement of `partner_keys`, by identity."""
    result = session.execute(
        select(*(getattr(Agreement, field) for field in _STORED_FIELDS)).where(
            _partner_key_in(partner_keys)
        )
    )
    return {
        (values["partner_key"], values["programme_key"], values["concluded"]): values
        for values in result.mappings()
    }


def _partner_key_in(partner_keys: Sequence[str]) -> ColumnElement[bool]:
    """Return `partner_key IN (...)` with the keys written into the statement.

    As bound parameters, a thousand keys make PostgreSQL reuse a generic plan after a
    few executions, one that compares every row with every key; written in (escaped by
    SQLAlchemy for the dialect), each statement is planned with its own values.
    """
    return Agreement.partner_key.in_(
        bindparam("partner_keys", list(partner_keys), expanding=True, literal_execute=True)
    )


def _load_members(session: Session, partner_keys: Sequence[str]) -> dict[_Identity, _Member]:
    """Return the supersession state of every agreement of `partner_keys`, by identity."""
    result = session.execute(
        select(
            Agreement.id,
            Agreement.partner_key,
            Agreement.programme_key,
            Agreement.concluded,
            Agreement.effective_until,
            Agreement.lifecycle,
            Agreement.superseded_by_id,
        ).where(_partner_key_in(partner_keys))
    )
    return {
        (partner_key, programme_key, concluded): _Member(
            id=agreement_id,
            effective_until=effective_until,
            concluded=concluded,
            lifecycle=lifecycle,
            superseded_by_id=superseded_by_id,
        )
        for (
            agreement_id,
            partner_key,
            programme_key,
            concluded,
            effective_until,
            lifecycle,
            superseded_by_id,
        ) in result
    }


def _plan_supersession(members: Sequence[_Member]) -> list[_Change]:
    """Return the supersession changes in one partner and programme (rule: resupersede).

    An active agreement with a stale successor pointer is fixed; a superseded one whose
    successor changed is pointed at the new one.
    """
    if not members:
        return []
    current = max(members, key=lambda member: (member.effective_until, member.concluded, member.id))
    changes: list[_Change] = []
    for member in members:
        if member.lifecycle is Lifecycle.RETIRED:
            continue
        if member is current:
            if member.lifecycle is not Lifecycle.ACTIVE or member.superseded_by_id is not None:
                changes.append(
                    _Change(
                        member.id,
                        member.lifecycle,
                        Lifecycle.ACTIVE,
                        None,
                        "the current agreement again",
                    )
                )
            continue
        if member.lifecycle is Lifecycle.SUPERSEDED and member.superseded_by_id == current.id:
            continue
        changes.append(
            _Change(
                member.id,
                member.lifecycle,
                Lifecycle.SUPERSEDED,
                current.id,
                f"superseded by agreement #{current.id} "
                f"(until {current.effective_until.isoformat()})",
            )
        )
    return changes


def _change_events(changes: Sequence[_Change]) -> list[tuple[int, EventAction, str]]:
    """Return (agreement id, action, details) for the changes that are worth an event."""
    return [
        (change.agreement_id, change.action, change.details)
        for change in changes
        if change.action is not None
    ]


def _record_events(
    session: Session,
    events: Sequence[tuple[int, EventAction, str]],
    *,
    now: datetime,
    actor: str,
) -> None:
    """Insert (agreement id, action, details) events by `actor` at `now` in one batch."""
    _insert_rows(
        session,
        AgreementEvent.__table__,
        _EVENT_COLUMNS,
        [
            (agreement_id, now, actor, str(action), details)
            for agreement_id, action, details in events
        ],
    )


def _insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows`, tuples of values in `columns` order, into `table` in one batch.

    Each value is converted for the driver by its column's type, as SQLAlchemy would
    convert it (its own bind processor for the dialect), but once per distinct value in
    the batch and without a parameter dictionary per row: converting every parameter of
    every row was most of an import's time in the store. A driver whose parameter style
    is not positional gets the rows through SQLAlchemy's insert instead.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    marker = _POSITIONAL_MARKERS.get(dialect.paramstyle)
    if marker is None:
        session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    quote = dialect.identifier_preparer.quote
    # Only our own table and column names (quoted by the dialect) enter the text; every
    # value is a bound parameter.
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(quote(name) for name in columns)}) "
        f"VALUES ({', '.join(marker for _ in columns)})"
    )
    connection.exec_driver_sql(sql, _converted(dialect, table, columns, rows))


def _update_agreements(
    session: Session, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Set `columns` of agreements by id: each of `rows` is (*values, id); one batch.

    Values are converted as `_insert_rows` converts them; a driver whose parameter style
    is not positional gets SQLAlchemy's update by primary key instead.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    marker = _POSITIONAL_MARKERS.get(dialect.paramstyle)
    keys = (*columns, "id")
    if marker is None:
        session.execute(update(Agreement), [dict(zip(keys, row, strict=True)) for row in rows])
        return
    table = Agreement.__table__
    quote = dialect.identifier_preparer.quote
    sql = (
        f"UPDATE {dialect.identifier_preparer.format_table(table)} "  # noqa: S608
        f"SET {', '.join(f'{quote(name)} = {marker}' for name in columns)} "
        f"WHERE {quote('id')} = {marker}"
    )
    connection.exec_driver_sql(sql, _converted(dialect, table, keys, rows))


def _converted(
    dialect: Dialect, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Return `rows` (values in `columns` order) as the column types hand them to the driver."""
    # Converted column by column: a column repeats few distinct values (dates, enums,
    # the one `now`), so most conversions are a dictionary hit.
    values_by_column = list(zip(*rows, strict=True))
    for index, name in enumerate(columns):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            values_by_column[index] = tuple(
                map(_Remembered(processor).__getitem__, values_by_column[index])
            )
    return list(zip(*values_by_column, strict=True))


class _Remembered(dict[Any, Any]):
    """value -> converted value, calling the conversion once per distinct value."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__()
        self._convert = convert

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self._convert(value)
        return converted


def _differences(stored: RowMapping, imported: Mapping[str, Any]) -> str:
    """Return what differs between stored and imported values, "" if nothing does."""
    differences: list[str] = []
    for field in _COMPARED_FIELDS:
        old_value, new_value = stored[field], imported[field]
        if old_value == new_value:
            continue
        if field in _TEXT_FIELDS:
            differences.append(f"{field} changed")
        else:
            differences.append(f"{field} {_shown(old_value)} -> {_shown(new_value)}")
    return ", ".join(differences)


def _imported_values(row: AgreementInput) -> dict[str, Any]:
    """Return the column values of an agreement as `row` gives them, by column name."""
    return dict(zip(_IMPORTED_COLUMNS, _imported_row(row), strict=True))


def _imported_row(row: AgreementInput) -> tuple[Any, ...]:
    """Return the column values of an agreement as `row` gives them, _IMPORTED_COLUMNS."""
    return (
        row.partner,
        row.partner_key,
        row.country,
        row.country_code,
        row.country_match,
        row.programme,
        row.programme_key,
        row.notes,
        row.concluded,
        row.concluded_precision,
        row.effective_until,
        row.effective_until_source,
        row.approximate,
        row.coordinator_email,
        row.source_file,
        row.source_line,
        # One warning per line, so a line break inside a warning would split it.
        "\n".join([" ".join(warning.split()) for warning in row.warnings]) if row.warnings else "",
    )


def _member(agreement: Agreement) -> _Member:
    """Return the supersession state of `agreement`."""
    return _Member(
        id=agreement.id,
        effective_until=agreement.effective_until,
        concluded=agreement.concluded,
        lifecycle=agreement.lifecycle,
        superseded_by_id=agreement.superseded_by_id,
    )


def _check_rows(rows: Sequence[AgreementInput]) -> None:
    """Raise InputError naming FILE:LINE of every duplicate or over-long row."""
    problems = _row_problems(rows, {})
    if problems:
        raise InputError(problems)


def _row_problems(
    rows: Sequence[AgreementInput], first_seen: dict[_Identity, tuple[str, int, bool]]
) -> list[str]:
    """Return "FILE:LINE: reason" for every duplicate or over-long row, in row order.

    `first_seen` holds the (file, line, new) of each identity met so far, rows of
    earlier batches included; the identities of `rows` are added to it, not new.
    """
    problems: list[str] = []
    # Nearly every row fits its columns: that is checked column by column first, and the
    # lengths are looked at row by row (to name the rows) only when one does not.
    fits = all(
        max(map(len, filter(None, map(attrgetter(field), rows))), default=0) <= limit
        for field, limit in AGREEMENT_STRING_LENGTHS.items()
    )
    for row in rows:
        place = (row.source_file, row.source_line, False)
        earlier = first_seen.setdefault(_identity(row), place)
        if earlier is not place:
            problems.append(
                f"{row.source_file}:{row.source_line}: same partner, programme and "
                f"conclusion date as {earlier[0]}:{earlier[1]}"
            )
        if fits:
            continue
        for field, limit in AGREEMENT_STRING_LENGTHS.items():
            value = getattr(row, field)
            if value is not None and len(value) > limit:
                problems.append(
                    f"{row.source_file}:{row.source_line}: {field} is {len(value)} "
                    f"characters long, at most {limit} fit"
                )
    return problems


def _identity(row: AgreementInput) -> _Identity:
    """Return what identifies the agreement of `row` across imports."""
    return (row.partner_key, row.programme_key, row.concluded)


def _shown(value: object) -> str:
    """Return `value` as an event shows it."""
    if value is None:
        return "(none)"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _require_aware(now: datetime) -> None:
    """Raise ValueError if `now` has no time zone."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now.isoformat()} refused: give a time zone")
