"""Read agreements as plain AgreementView values, streamed, for the pure layers.

Columns are selected directly rather than as ORM objects: the daily run and the weekly
digest read many rows, and building ORM objects would cost far more than the query.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import String, and_, select, type_coerce
from sqlalchemy.orm import Session

from reminder.domain.records import AgreementView, CountryMatch, Lifecycle, Precision, UntilSource
from reminder.store.agreements import agreement_filters
from reminder.store.models import Agreement, AgreementEvent, Reminder

#: Rows fetched per round trip while streaming.
STREAM_BATCH_ROWS = 2000

# The enumerated columns are read as their stored text and turned into members by
# `_view` with a dict look-up: SQLAlchemy's enum processing and then ours cost more per
# row than the rest of the view together.
_COLUMNS = (
    Agreement.id,
    Agreement.partner,
    Agreement.country,
    Agreement.country_code,
    type_coerce(Agreement.country_match, String).label("country_match"),
    Agreement.programme,
    Agreement.notes,
    Agreement.concluded,
    type_coerce(Agreement.concluded_precision, String).label("concluded_precision"),
    Agreement.effective_until,
    type_coerce(Agreement.effective_until_source, String).label("effective_until_source"),
    Agreement.approximate,
    type_coerce(Agreement.lifecycle, String).label("lifecycle"),
    Agreement.coordinator_email,
    Agreement.data_warnings,
    Agreement.retired_reason,
    Agreement.snoozed_until,
    Agreement.superseded_by_id,
)


_COUNTRY_MATCH = {m.value: m for m in CountryMatch}
_PRECISION = {m.value: m for m in Precision}
_UNTIL_SOURCE = {m.value: m for m in UntilSource}
_LIFECYCLE = {m.value: m for m in Lifecycle}


def _view(row: Any) -> AgreementView:
    # Unpacked by position: reading eighteen columns of a Row by name costs more than
    # building the view, and a reminder run reads tens of thousands of rows.
    (
        agreement_id,
        partner,
        country,
        country_code,
        country_match,
        programme,
        notes,
        concluded,
        concluded_precision,
        effective_until,
        effective_until_source,
        approximate,
        lifecycle,
        coordinator_email,
        data_warnings,
        retired_reason,
        snoozed_until,
        superseded_by_id,
    ) = row[: len(_COLUMNS)]
    # Positional, in field order: a named tuple is built faster this way than by keyword.
    return AgreementView(
        agreement_id,
        partner,
        country,
        country_code,
        _COUNTRY_MATCH[country_match],
        programme,
        notes,
        concluded,
        _PRECISION[concluded_precision],
        effective_until,
        _UNTIL_SOURCE[effective_until_source],
        bool(approximate),
        _LIFECYCLE[lifecycle],
        coordinator_email,
        tuple(line for line in data_warnings.split("\n") if line) if data_warnings else (),
        retired_reason,
        snoozed_until,
        superseded_by_id,
    )


def iter_agreement_views(
    session: Session,
    *,
    lifecycles: Collection[Lifecycle] | None = None,
    until_from: date | None = None,
    until_to: date | None = None,
) -> Iterator[AgreementView]:
    """Yield agreements as views, ordered by effective_until then id, streamed.

    Filters as store.iter_agreements (both date bounds inclusive). Do not run other
    statements on `session` while iterating (MariaDB streams over the connection).
    """
    statement = (
        select(*_COLUMNS)
        .where(*agreement_filters(lifecycles, until_from, until_to))
        .order_by(Agreement.effective_until, Agreement.id)
    )
    for row in session.execute(statement.execution_options(yield_per=STREAM_BATCH_ROWS)):
        yield _view(row)


#: The windows the ledger holds for one agreement (at its current effective-until),
#: by recipient address.
RecordedWindows = Mapping[str, frozenset[int]]
_NOTHING_RECORDED: RecordedWindows = MappingProxyType({})


def iter_reminder_candidates(
    session: Session, *, until_from: date, until_to: date
) -> Iterator[tuple[AgreementView, RecordedWindows]]:
    """Yield the active agreements whose effective-until lies in [until_from, until_to],
    each with the windows the ledger already has for it, ordered by effective-until
    then id, streamed.

    One query joins the ledger by its unique key's leading columns, so a run reads
    each candidate and its entries in one pass instead of asking for them by id.
    Do not run other statements on `session` while iterating.
    """
    width = len(_COLUMNS)
    statement = (
        select(*_COLUMNS, Reminder.recipient, Reminder.window_days)
        .outerjoin(
            Reminder,
            and_(
                Reminder.agreement_id == Agreement.id,
                Reminder.effective_until == Agreement.effective_until,
            ),
        )
        .where(*agreement_filters({Lifecycle.ACTIVE}, until_from, until_to))
        .order_by(Agreement.effective_until, Agreement.id)
    )
    # Core rather than the ORM session's execute: the same rows with less work per row.
    rows = session.connection().execute(statement.execution_options(yield_per=STREAM_BATCH_ROWS))
    current: Any = None
    row: Any
    recorded: dict[str, set[int]] = {}
    for partition in rows.partitions():
        for row in partition:
            if current is None or row[0] != current[0]:
                if current is not None:
                    yield _view(current), _frozen(recorded)
                current, recorded = row, {}
            recipient, window = row[width], row[width + 1]
            if recipient is not None:
                recorded.setdefault(recipient, set()).add(window)
    if current is not None:
        yield _view(current), _frozen(recorded)


def _frozen(recorded: dict[str, set[int]]) -> RecordedWindows:
    if not recorded:
        return _NOTHING_RECORDED
    return {recipient: frozenset(windows) for recipient, windows in recorded.items()}


def get_agreement_view(session: Session, agreement_id: int) -> AgreementView | None:
    """Return the agreement with `agreement_id` as a view, or None if there is none."""
    row = session.execute(select(*_COLUMNS).where(Agreement.id == agreement_id)).first()
    return None if row is None else _view(row)


@dataclass(frozen=True, slots=True)
class EventView:
    """One line of an agreement's history, with the agreement as it is now."""

    agreement: AgreementView
    action: str
    at: datetime
    actor: str
    details: str


def changes_since(
    session: Session, since: datetime, *, until: datetime, actions: Collection[str] | None = None
) -> list[EventView]:
    """Return the agreement events in [since, until), oldest first.

    `actions` keeps only those actions; by default the ones a weekly digest reports:
    renewed, amended, superseded, retired, reinstated.
    """
    wanted = list(actions or ("renewed", "amended", "superseded", "retired", "reinstated"))
    rows = session.execute(
        select(
            *_COLUMNS,
            AgreementEvent.action,
            AgreementEvent.at,
            AgreementEvent.actor,
            AgreementEvent.details,
        )
        .join(AgreementEvent, AgreementEvent.agreement_id == Agreement.id)
        .where(
            AgreementEvent.at >= since,
            AgreementEvent.at < until,
            AgreementEvent.action.in_(wanted),
        )
        .order_by(AgreementEvent.at, AgreementEvent.id)
    ).all()
    return [EventView(_view(row), row.action, row.at, row.actor, row.details) for row in rows]


def table_coordinator_emails(session: Session) -> list[str]:
    """Return each coordinator address the imported tables name, once, sorted.

    Those coordinators get the reminders for their agreements whether or not the
    config lists them, and so get a weekly digest too.
    """
    query = (
        select(Agreement.coordinator_email)
        .where(Agreement.coordinator_email.is_not(None))
        .distinct()
        .order_by(Agreement.coordinator_email)
    )
    return [email for email in session.scalars(query) if email]
