"""What an import changes in the stored agreements: a plan of inserts, updates, events.

Pure work on values: `plan_writes` compares the rows of an import with the agreements
stored under the same identities and returns the parameter sets of the statements that
bring them in line, with the events to record. `import_writes` runs them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping

from reminder.domain.records import AgreementInput, Lifecycle
from reminder.store.agreements import Identity
from reminder.store.models import EventAction

COMPARED_FIELDS = (
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
PROVENANCE_FIELDS = ("source_file", "source_line")
# The columns an import fills, in the order of `_imported_row`.
IMPORTED_COLUMNS = (
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
# A new agreement: the imported columns, then these (see `plan_writes`).
NEW_AGREEMENT_COLUMNS = (*IMPORTED_COLUMNS, "lifecycle", "created_at", "updated_at")
STORED_FIELDS = (
    "id",
    "partner_key",
    "programme_key",
    "concluded",
    *COMPARED_FIELDS,
    *PROVENANCE_FIELDS,
)
# Free-text fields: an event says that they changed, not what they hold.
_TEXT_FIELDS = frozenset({"partner", "country", "programme", "notes", "data_warnings"})


@dataclass(slots=True)
class Writes:
    """The statements an import chunk needs, as parameter sets."""

    # Values in NEW_AGREEMENT_COLUMNS order.
    new_rows: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    updated_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    moved_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # provenance only
    # Events of new agreements, whose ids are known only once they are inserted.
    new_events: list[tuple[Identity, str]] = dataclasses.field(default_factory=list)
    events: list[tuple[int, EventAction, str]] = dataclasses.field(default_factory=list)


def plan_writes(
    rows: Sequence[AgreementInput], stored: Mapping[Identity, RowMapping], now: datetime
) -> Writes:
    """Return the inserts, updates and events that bring `stored` in line with `rows`."""
    writes = Writes()
    for row in rows:
        provenance = f"from {row.source_file}:{row.source_line}"
        identity = identity_of(row)
        existing = stored.get(identity)
        if existing is None:
            writes.new_rows.append((*_imported_row(row), Lifecycle.ACTIVE, now, now))
            writes.new_events.append((identity, provenance))
            continue
        imported = _imported_values(row)
        differences = _differences(existing, imported)
        if differences:
            writes.updated_rows.append(
                {name: imported[name] for name in COMPARED_FIELDS + PROVENANCE_FIELDS}
                | {"id": existing["id"], "updated_at": now}
            )
            writes.events.append(
                (existing["id"], EventAction.UPDATED, f"{differences}; {provenance}")
            )
        elif any(existing[name] != imported[name] for name in PROVENANCE_FIELDS):
            writes.moved_rows.append(
                {name: imported[name] for name in PROVENANCE_FIELDS} | {"id": existing["id"]}
            )
    return writes


def _differences(stored: RowMapping, imported: Mapping[str, Any]) -> str:
    """Return what differs between stored and imported values, "" if nothing does."""
    differences: list[str] = []
    for field in COMPARED_FIELDS:
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
    return dict(zip(IMPORTED_COLUMNS, _imported_row(row), strict=True))


def _imported_row(row: AgreementInput) -> tuple[Any, ...]:
    """Return the column values of an agreement as `row` gives them, IMPORTED_COLUMNS."""
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


def identity_of(row: AgreementInput) -> Identity:
    """Return what identifies the agreement of `row` across imports."""
    return (row.partner_key, row.programme_key, row.concluded)


def _shown(value: object) -> str:
    """Return `value` as an event shows it."""
    if value is None:
        return "(none)"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
