"""The identities an import has met, kept in a temporary table of the import's transaction.

An import must refuse a row whose agreement an earlier row of the same import named, and
at its end look again at every partner it touched. Held in Python, that is a dictionary
of every row of the import (hundreds of megabytes at a million rows); here it is a
temporary table, indexed by identity, that the database keeps beside the import's own
writes and drops with them. Only our own names and bound values enter its statements.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from reminder.store.agreements import Identity
from reminder.store.models import AGREEMENT_STRING_LENGTHS, Agreement

TABLE_NAME = "reminder_import_identities"
# Identities read back at a time by `in_table_order`.
_PAGE_ROWS = 5000
_PARTNER_KEY_LENGTH = AGREEMENT_STRING_LENGTHS["partner_key"]
_PROGRAMME_KEY_LENGTH = AGREEMENT_STRING_LENGTHS["programme_key"]
# Partner keys written into one query (as `agreements.partner_key_in` does).
_KEYS_PER_QUERY = 1000


class Place(NamedTuple):
    """Where an import met an identity first, and whether its agreement is new."""

    source_file: str
    source_line: int
    new: bool


class ImportIdentities:
    """The identities met by one import, in the order met; create one per import.

    The table is created in `session`'s transaction and dropped by `drop` (or with the
    transaction, when it is rolled back, on SQLite and PostgreSQL; MariaDB keeps a
    temporary table until the connection closes, so a leftover one is dropped first).
    """

    def __init__(self, session: Session) -> None:
        """Create the temporary table in `session`'s transaction."""
        self._session = session
        self._table = _identities_table()
        self._next_order = 0
        self._drop_statement = text(
            f"DROP {'TEMPORARY ' if session.get_bind().dialect.name == 'mysql' else ''}"
            f"TABLE IF EXISTS {TABLE_NAME}"
        )
        connection = session.connection()
        connection.execute(self._drop_statement)
        connection.execute(CreateTable(self._table))

    def earlier_places(self, identities: Sequence[tuple[Identity, str, int]]) -> list[Place | None]:
        """Return, for each (identity, file, line), where the import met it before, or None.

        "Before" is an earlier call of `remember`, or an earlier item of `identities`
        (then with new=False).
        """
        places = self._stored_places({identity[0] for identity, _, _ in identities})
        earlier: list[Place | None] = []
        for identity, source_file, source_line in identities:
            place = places.get(identity)
            if place is None:
                places[identity] = Place(source_file, source_line, new=False)
            earlier.append(place)
        return earlier

    def remember(self, identities: Sequence[tuple[Identity, Place]]) -> None:
        """Record each identity not met before with its place, in order.

        An identity with a key longer than its column is not kept: its row is refused
        anyway (a problem the import names), and the table could not hold it.
        """
        rows = []
        for (partner_key, programme_key, concluded), place in identities:
            if len(partner_key) > _PARTNER_KEY_LENGTH or len(programme_key) > _PROGRAMME_KEY_LENGTH:
                continue
            rows.append(
                {
                    "seen_order": self._next_order,
                    "partner_key": partner_key,
                    "programme_key": programme_key,
                    "concluded": concluded,
                    "source_file": place.source_file,
                    "source_line": place.source_line,
                    "new": place.new,
                }
            )
            self._next_order += 1
        if rows:
            self._session.execute(insert(self._table), rows)

    def in_table_order(self) -> Iterator[tuple[Identity, Place]]:
        """Yield every identity remembered with its place, in the order remembered.

        Read a page at a time, so that the caller may write between two items.
        """
        columns = self._table.c
        after = -1
        while True:
            page = self._session.execute(
                select(columns.seen_order, *self._place_columns())
                .where(columns.seen_order > after)
                .order_by(columns.seen_order)
                .limit(_PAGE_ROWS)
            ).all()
            for order, partner_key, programme_key, concluded, file, line, new in page:
                yield (partner_key, programme_key, concluded), Place(file, line, bool(new))
                after = order
            if len(page) < _PAGE_ROWS:
                return

    def drop(self) -> None:
        """Drop the temporary table."""
        self._session.execute(self._drop_statement)

    def _place_columns(self) -> tuple[Column[Any], ...]:
        """Return the columns of an identity and its place, in the order `Place` reads."""
        columns = self._table.c
        return (
            columns.partner_key,
            columns.programme_key,
            columns.concluded,
            columns.source_file,
            columns.source_line,
            columns.new,
        )

    def _stored_places(self, partner_keys: set[str]) -> dict[Identity, Place]:
        """Return the remembered places of every identity of `partner_keys`."""
        columns = self._table.c
        keys = sorted(partner_keys)
        places: dict[Identity, Place] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            result = self._session.execute(
                select(*self._place_columns()).where(
                    columns.partner_key.in_(
                        bindparam(
                            "keys",
                            keys[start : start + _KEYS_PER_QUERY],
                            expanding=True,
                            literal_execute=True,
                        )
                    )
                )
            )
            for partner_key, programme_key, concluded, file, line, new in result:
                places[partner_key, programme_key, concluded] = Place(file, line, bool(new))
        return places


def _identities_table() -> Table:
    """Return the temporary table: the identity (typed as in `agreements`) and its place."""
    agreements = Agreement.__table__.c
    return Table(
        TABLE_NAME,
        MetaData(),
        Column("partner_key", agreements.partner_key.type, primary_key=True),
        Column("programme_key", agreements.programme_key.type, primary_key=True),
        Column("concluded", agreements.concluded.type, primary_key=True),
        Column("seen_order", Integer, nullable=False, unique=True),
        Column("source_file", Text, nullable=False),
        Column("source_line", Integer, nullable=False),
        Column("new", Boolean(create_constraint=False), nullable=False),
        prefixes=["TEMPORARY"],
        # MariaDB: the character set of `agreements`, whatever the server's default is.
        mysql_charset="utf8mb4",
    )
