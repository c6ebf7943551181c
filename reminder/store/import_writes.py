"""Importing validated rows: new agreements inserted, changed ones updated, in batches.

An import may hold any number of rows: `ImportInBatches` writes them a batch at a time
in the caller's transaction, keeping between batches only what identifies the rows met,
and redoes supersession (rules in `agreements`) once at the end; `apply_import` is one
batch of it. New agreements go to the driver through `driver_writes` (see there why);
updates are SQLAlchemy's `update()` executed with a list of parameter sets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from sqlalchemy import RowMapping, select, update
from sqlalchemy.orm import Session

from reminder.domain.records import AgreementInput
from reminder.errors import InputError
from reminder.store.agreements import (
    Identity,
    change_events,
    load_members,
    partner_key_in,
    record_events,
    require_aware,
    supersede,
)
from reminder.store.driver_writes import insert_rows
from reminder.store.import_identities import ImportIdentities, Place
from reminder.store.import_plan import (
    IMPORTED_COLUMNS,
    NEW_AGREEMENT_COLUMNS,
    PROVENANCE_FIELDS,
    STORED_FIELDS,
    Writes,
    identity_of,
    plan_writes,
)
from reminder.store.models import AGREEMENT_STRING_LENGTHS, Agreement, EventAction

# Partners whose agreements are loaded with one query; a thousand bound parameters fit
# every database's limit, and all agreements of a partner land in the same chunk.
IMPORT_CHUNK_PARTNERS = 1000


# Fields compared on import; a difference in any of them makes the agreement "updated".
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


def apply_import(
    session: Session, rows: Sequence[AgreementInput], *, now: datetime, actor: str
) -> ImportOutcome:
    """Store `rows` as one batch of `ImportInBatches` (see there for the rules).

    Returns the counts. Raises InputError, before writing anything, naming FILE:LINE
    for rows with the same identity or with values longer than their columns; raises
    ValueError if `now` is naive.
    """
    batches = ImportInBatches(session, now=now, actor=actor)
    batches.add(rows)
    return batches.finish()


class ImportInBatches:
    """An import written batch by batch while its rows are read, in the caller's session.

    An agreement is identified by partner_key + programme_key + concluded; a row whose
    identity an earlier row of the import had, or with values longer than their
    columns, is a problem. A row whose agreement is not stored is inserted. A stored
    one counts as updated when a field other than its provenance (source_file,
    source_line) differs; a different provenance alone is refreshed without counting or
    an event; rows equal to what is stored issue no UPDATE at all. Every new or updated
    agreement gets an event by `actor` at `now`. Supersession is redone once, by
    `finish`, for each partner and programme that had a row (see `resupersede`).
    New agreements get their ids in the order of the batches, each sorted by file and
    line. Only the identities met, with their file and line, are kept between batches,
    in a temporary table of the transaction (see `import_identities`).

    The writes are bulk statements: Agreement objects already loaded in `session` are
    not refreshed by them. All or nothing is the caller's: everything is written in
    `session`'s transaction, which the caller rolls back when `finish` raises or when
    it finds problems of its own (as `Database.session` does on an exception).
    """

    def __init__(self, session: Session, *, now: datetime, actor: str) -> None:
        """Start an import at `now` by `actor`. Raises ValueError if `now` is naive."""
        require_aware(now)
        self._session = session
        self._now = now
        self._actor = actor
        # Every identity met, in table order, with its file, line and whether it is new:
        # duplicates across batches are found there, and `finish` takes from it the
        # partners and programmes to look at and the new agreements to record an event for.
        self._identities = ImportIdentities(session)
        self._tally: dict[str, int] = defaultdict(int)
        self._problems: list[str] = []
        # Into an empty table (a first import) every row is new: no need to look for
        # stored agreements batch after batch. Known at the first batch.
        self._table_was_empty: bool | None = None

    def add(self, rows: Sequence[AgreementInput], *, write: bool = True) -> None:
        """Check `rows` and, while no batch had a problem (and `write`), write them.

        Once a problem is found nothing more is written (the transaction is to be
        rolled back), but later rows are still checked so that `finish` names them all.
        A caller that found problems of its own passes write=False for the same reason.
        """
        identities = [(identity_of(row), row.source_file, row.source_line) for row in rows]
        earlier = self._identities.earlier_places(identities)
        self._problems += _row_problems(rows, earlier)
        first_met = [
            identity for identity, place in zip(identities, earlier, strict=True) if place is None
        ]
        new: set[Identity] = set()
        if write and not self._problems:
            new = self._write(rows)
        self._identities.remember(
            [
                (identity, Place(source_file, source_line, identity in new))
                for identity, source_file, source_line in first_met
            ]
        )

    def earlier_places(self, rows: Sequence[AgreementInput]) -> list[Place | None]:
        """Return, for each of `rows`, where an earlier row of the import had its identity.

        None for a row whose identity is met for the first time; a duplicate within
        `rows` is named too. Reads only: `add` checks again.
        """
        return self._identities.earlier_places(
            [(identity_of(row), row.source_file, row.source_line) for row in rows]
        )

    def _write(self, rows: Sequence[AgreementInput]) -> set[Identity]:
        """Write `rows`, whose identities are all different; return those of new agreements."""
        new: set[Identity] = set()
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
            new.update(identity for identity, _ in writes.new_events)
            record_events(self._session, writes.events, now=self._now, actor=self._actor)
        return new

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
        chunk: dict[str, list[tuple[Identity, Place]]] = defaultdict(list)
        for identity, place in self._identities.in_table_order():
            if identity[0] not in chunk and len(chunk) == IMPORT_CHUNK_PARTNERS:
                self._finish_chunk(chunk)
                chunk = defaultdict(list)
            chunk[identity[0]].append((identity, place))
        if chunk:
            self._finish_chunk(chunk)
        self._identities.drop()
        return ImportOutcome(
            new=self._tally["new"],
            updated=self._tally["updated"],
            unchanged=self._tally["unchanged"],
            superseded=self._tally["superseded"],
            current_again=self._tally["current_again"],
        )

    def _finish_chunk(
        self, identities_by_partner: Mapping[str, Sequence[tuple[Identity, Place]]]
    ) -> None:
        """Record the imported events and redo supersession for these identities."""
        members = load_members(self._session, list(identities_by_partner))
        events: list[tuple[int, EventAction, str]] = []
        touched: set[tuple[str, str]] = set()
        for identities in identities_by_partner.values():
            for identity, place in identities:
                touched.add(identity[:2])
                if place.new:
                    details = f"from {place.source_file}:{place.source_line}"
                    events.append((members[identity].id, EventAction.IMPORTED, details))
        changes = supersede(self._session, members, touched, now=self._now)
        self._tally["superseded"] += sum(change.newly_superseded for change in changes)
        self._tally["current_again"] += sum(change.current_again for change in changes)
        events += change_events(changes)
        record_events(self._session, events, now=self._now, actor=self._actor)


def _write_chunk(
    session: Session,
    partner_keys: Sequence[str],
    rows: Sequence[AgreementInput],
    *,
    now: datetime,
    tally: dict[str, int],
    nothing_stored: bool = False,
) -> Writes:
    """Insert and update the agreements of `rows` (all the rows of `partner_keys`).

    `nothing_stored` says that no agreement of `partner_keys` is stored yet.
    Returns the writes, whose events are not recorded yet. Adds to `tally`.
    """
    stored = {} if nothing_stored else _load_stored(session, partner_keys)
    writes = plan_writes(rows, stored, now)
    # New agreements get their ids in table order, so row 1 of a fresh import is id 1
    # (within a chunk of partners; across the batches when a batch holds no more rows
    # than a chunk holds partners): people quote ids from the listing next to their table.
    source_file, source_line = (IMPORTED_COLUMNS.index(name) for name in PROVENANCE_FIELDS)
    writes.new_rows.sort(key=lambda values: (values[source_file], values[source_line]))
    insert_rows(session, Agreement.__table__, NEW_AGREEMENT_COLUMNS, writes.new_rows)
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


def _load_stored(session: Session, partner_keys: Sequence[str]) -> dict[Identity, RowMapping]:
    """Return the imported fields of every agreement of `partner_keys`, by identity."""
    result = session.execute(
        select(*(getattr(Agreement, field) for field in STORED_FIELDS)).where(
            partner_key_in(partner_keys)
        )
    )
    return {
        (values["partner_key"], values["programme_key"], values["concluded"]): values
        for values in result.mappings()
    }


#: The keys the store makes of a name, and the name each is made from.
_KEY_SOURCES = {"partner_key": "partner", "programme_key": "programme"}


def _row_problems(rows: Sequence[AgreementInput], earlier: Sequence[Place | None]) -> list[str]:
    """Return "FILE:LINE: reason" for every duplicate or over-long row, in row order.

    `earlier` holds, for each row, where an earlier row of the import had its identity.
    """
    problems: list[str] = []
    # Nearly every row fits its columns: that is checked column by column first, and the
    # lengths are looked at row by row (to name the rows) only when one does not.
    fits = all(
        max(map(len, filter(None, map(attrgetter(field), rows))), default=0) <= limit
        for field, limit in AGREEMENT_STRING_LENGTHS.items()
    )
    for row, place in zip(rows, earlier, strict=True):
        if place is not None:
            problems.append(
                f"{row.source_file}:{row.source_line}: same partner, programme and "
                f"conclusion date as {place.source_file}:{place.source_line}"
            )
        if not fits:
            problems += overlong_fields(row)
    return problems


def overlong_fields(row: AgreementInput) -> list[str]:
    """Return "FILE:LINE: reason" for each value of `row` longer than its column holds.

    A key too long because the name it is made from is too long is not named again: the
    reader knows the name, not the key the store makes of it.
    """
    too_long = {
        field: len(value)
        for field, limit in AGREEMENT_STRING_LENGTHS.items()
        if (value := getattr(row, field)) is not None and len(value) > limit
    }
    return [
        f"{row.source_file}:{row.source_line}: {field} is {length:,} characters long, "
        f"at most {AGREEMENT_STRING_LENGTHS[field]} fit"
        for field, length in too_long.items()
        if _KEY_SOURCES.get(field) not in too_long
    ]
