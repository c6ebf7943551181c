"""Importing, superseding and listing agreements, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from factories import agreement_input
from sqlalchemy import create_engine, delete, insert, select

from reminder import store
from reminder.config.loading import load_config
from reminder.domain.records import AgreementInput, CountryMatch, Lifecycle, Precision, UntilSource
from reminder.errors import InputError
from reminder.importing import pipeline
from reminder.store import (
    agreement_history,
    apply_import,
    count_agreements,
    get_agreement,
    import_plan,
    import_writes,
    iter_agreements,
    resupersede,
)
from reminder.store.database import Database
from reminder.store.models import Agreement, AgreementEvent, Base, UTCDateTime

NOW = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
LATER = NOW + timedelta(days=7)
_source_lines = count(2)


def make_row(partner_key: str = "universidade do porto", **overrides: Any) -> AgreementInput:
    """Return an import row for `partner_key` in Erasmus+; `overrides` replace fields."""
    row = agreement_input(
        partner_key.title(),
        partner_key=partner_key,
        country="Portugal",
        country_code="PT",
        programme="Erasmus+",
        programme_key="erasmus+",
        concluded=date(2021, 6, 1),
        effective_until=date(2027, 5, 31),
        coordinator_email="erasmus@example.org",
        source_line=next(_source_lines),
    )
    return replace(row, **overrides)


def import_rows(
    db: Database, rows: list[AgreementInput], now: datetime = NOW
) -> store.ImportOutcome:
    """Import `rows` in a session of their own; return the outcome."""
    with db.session() as session:
        return apply_import(session, rows, now=now, actor="tester")


def stored(db: Database) -> dict[tuple[str, str, date], Agreement]:
    """Return every stored agreement by identity."""
    with db.session(read_only=True) as session:
        return {
            (agreement.partner_key, agreement.programme_key, agreement.concluded): agreement
            for agreement in iter_agreements(session)
        }


def actions(db: Database, agreement_id: int) -> list[str]:
    """Return the event actions of an agreement, oldest first."""
    with db.session(read_only=True) as session:
        return [event.action for event in agreement_history(session, agreement_id)]


# ---------------------------------------------------------------------------------------
# Import: new, unchanged, updated


def test_first_import_stores_every_field(db: Database) -> None:
    row = make_row(
        "université de lyon",
        partner="Université de Lyon",
        country="France",
        country_code="FR",
        country_match=CountryMatch.APPROXIMATE,
        notes="Signed by the dean.\nTwo copies.",
        concluded_precision=Precision.MONTH,
        effective_until_source=UntilSource.TERM,
        approximate=True,
        coordinator_email=None,
        warnings=("conclusion date has no day", "country guessed"),
    )
    other = make_row("uniwersytet warszawski")

    outcome = import_rows(db, [row, other])

    assert (outcome.new, outcome.updated, outcome.unchanged, outcome.superseded) == (2, 0, 0, 0)
    agreement = stored(db)[row.partner_key, row.programme_key, row.concluded]
    assert agreement.partner == "Université de Lyon"
    assert agreement.country == "France"
    assert agreement.country_code == "FR"
    assert agreement.country_match is CountryMatch.APPROXIMATE
    assert agreement.programme == "Erasmus+"
    assert agreement.notes == "Signed by the dean.\nTwo copies."
    assert agreement.concluded_precision is Precision.MONTH
    assert agreement.effective_until == row.effective_until
    assert agreement.effective_until_source is UntilSource.TERM
    assert agreement.approximate is True
    assert agreement.coordinator_email is None
    assert agreement.lifecycle is Lifecycle.ACTIVE
    assert agreement.superseded_by_id is None
    assert (agreement.source_file, agreement.source_line) == ("agreements.tsv", row.source_line)
    assert agreement.warnings == ("conclusion date has no day", "country guessed")
    assert agreement.created_at == NOW
    assert agreement.updated_at == NOW
    assert actions(db, agreement.id) == ["imported"]
    with db.session(read_only=True) as session:
        assert count_agreements(session) == 2


def test_importing_the_same_rows_again_changes_nothing(db: Database) -> None:
    rows = [make_row("alpha"), make_row("beta"), make_row("alpha", programme_key="bilateral")]
    import_rows(db, rows)
    before = stored(db)

    with db.session() as session:
        if db.dialect_name == "sqlite":
            changes_before = session.connection().exec_driver_sql("SELECT total_changes()")
            changes_before_count = changes_before.scalar_one()
        outcome = apply_import(session, rows, now=LATER, actor="tester")
        if db.dialect_name == "sqlite":
            # SQLite counts every row an INSERT, UPDATE or DELETE touched: none here but
            # the import's own record of the identities it met (a temporary table).
            changes_after = session.connection().exec_driver_sql("SELECT total_changes()")
            assert changes_after.scalar() == changes_before_count + len(rows)

    assert (outcome.new, outcome.updated, outcome.unchanged, outcome.superseded) == (0, 0, 3, 0)
    after = stored(db)
    assert {identity: agreement.updated_at for identity, agreement in after.items()} == {
        identity: NOW for identity in before
    }
    for agreement in after.values():
        assert actions(db, agreement.id) == ["imported"]


def test_a_change_in_any_compared_field_counts_as_updated(db: Database) -> None:
    changes: dict[str, dict[str, Any]] = {
        "partner": {"partner": "Universidade do Porto (FEUP)"},
        "country": {"country": "Portugal (PT)"},
        "country_code": {"country_code": None},
        "country_match": {"country_match": CountryMatch.UNKNOWN},
        "programme": {"programme": "Erasmus+ KA131"},
        "notes": {"notes": "renewal under way"},
        "concluded_precision": {"concluded_precision": Precision.YEAR},
        "effective_until": {"effective_until": date(2028, 5, 31)},
        "effective_until_source": {"effective_until_source": UntilSource.YEAR},
        "approximate": {"approximate": True},
        "coordinator_email": {"coordinator_email": "new@example.org"},
        "data_warnings": {"warnings": ("a new warning",)},
    }
    originals = {field: make_row(f"partner for {field}") for field in changes}
    import_rows(db, list(originals.values()))

    outcome = import_rows(
        db,
        [replace(originals[field], **override) for field, override in changes.items()],
        now=LATER,
    )

    assert (outcome.new, outcome.updated, outcome.unchanged) == (0, len(changes), 0)
    after = stored(db)
    for field, override in changes.items():
        original = originals[field]
        agreement = after[original.partner_key, original.programme_key, original.concluded]
        assert agreement.updated_at == LATER
        with db.session(read_only=True) as session:
            events = agreement_history(session, agreement.id)
        assert [event.action for event in events] == ["imported", "updated"]
        assert events[1].details.startswith(field)
        assert events[1].at == LATER
        assert events[1].actor == "tester"
        (attribute, value), *_ = override.items()
        if attribute == "warnings":
            assert agreement.warnings == value
        else:
            assert getattr(agreement, attribute) == value


def test_update_event_shows_old_and_new_dates(db: Database) -> None:
    row = make_row(effective_until=date(2026, 1, 31))
    import_rows(db, [row])

    import_rows(db, [replace(row, effective_until=date(2031, 1, 31), source_line=40)])

    (agreement,) = stored(db).values()
    with db.session(read_only=True) as session:
        details = agreement_history(session, agreement.id)[-1].details
    assert "effective_until 2026-01-31 -> 2031-01-31" in details
    assert "agreements.tsv:40" in details


def test_new_provenance_alone_is_refreshed_silently(db: Database) -> None:
    row = make_row(source_file="2024.tsv", source_line=5)
    import_rows(db, [row])

    outcome = import_rows(db, [replace(row, source_file="2025.tsv", source_line=9)], now=LATER)

    assert (outcome.updated, outcome.unchanged) == (0, 1)
    (agreement,) = stored(db).values()
    assert (agreement.source_file, agreement.source_line) == ("2025.tsv", 9)
    assert agreement.updated_at == NOW
    assert actions(db, agreement.id) == ["imported"]


def test_rows_with_the_same_identity_are_refused_before_writing(db: Database) -> None:
    first = make_row(source_line=3)
    duplicate = replace(first, notes="again", source_line=8)
    too_long = make_row("x" * 301, source_line=11)

    with pytest.raises(InputError) as raised:
        import_rows(db, [first, duplicate, too_long])

    assert raised.value.problems == (
        "agreements.tsv:8: same partner, programme and conclusion date as agreements.tsv:3",
        # The key made of the name is as long, but only the name is named.
        "agreements.tsv:11: partner is 301 characters long, at most 300 fit",
    )
    assert stored(db) == {}


def _raw_table(db: Database, table: str, order_by: str) -> list[tuple[Any, ...]]:
    """Return the rows of `table` as the driver reads them, without their id column."""
    with db.session(read_only=True) as session:
        result = session.connection().exec_driver_sql(f"SELECT * FROM {table} ORDER BY {order_by}")
        keep = [index for index, name in enumerate(result.keys()) if name != "id"]
        return [tuple(row[index] for index in keep) for row in result]


def test_import_stores_exactly_what_sqlalchemy_would_store(db: Database) -> None:
    # The import hands the driver values it converted itself (once per distinct
    # value); the stored bytes must be those of SQLAlchemy's own insert, on every
    # database, for every kind of value an import writes.
    rows = [
        make_row(
            "université de lyon",
            partner="Université de Lyon 100% ?",
            country="Fr'ance %s",
            country_code=None,
            country_match=CountryMatch.UNKNOWN,
            notes="Signed by the dean.\nTwo copies; 50% of %(x)s ? :1",
            concluded=date(2020, 2, 29),
            concluded_precision=Precision.MONTH,
            effective_until=date(2024, 12, 31),
            effective_until_source=UntilSource.TERM,
            approximate=True,
            coordinator_email=None,
            warnings=("conclusion date  has\nno day", "country guessed"),
        ),
        make_row(
            "istanbul teknik universitesi",
            partner="İstanbul Teknik Üniversitesi",
            country_match=CountryMatch.APPROXIMATE,
            concluded=date(1999, 12, 31),
            concluded_precision=Precision.YEAR,
            effective_until_source=UntilSource.YEAR,
            source_file="tables/ğ ş.csv",
        ),
        make_row("uniwersytet warszawski", programme_key="ka171", programme="KA171"),
    ]
    now = datetime(2025, 3, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))
    import_rows(db, rows, now)
    ours = _raw_table(db, "agreements", "source_line")
    our_events = _raw_table(db, "agreement_events", "details")

    with db.session() as session:
        session.execute(delete(AgreementEvent.__table__))
        session.execute(delete(Agreement.__table__))
        session.execute(
            insert(Agreement.__table__),
            [
                import_plan._imported_values(row)
                | {"lifecycle": Lifecycle.ACTIVE, "created_at": now, "updated_at": now}
                for row in rows
            ],
        )
        ids = {
            line: agreement_id
            for line, agreement_id in session.execute(select(Agreement.source_line, Agreement.id))
        }
        session.execute(
            insert(AgreementEvent.__table__),
            [
                {
                    "agreement_id": ids[row.source_line],
                    "at": now,
                    "actor": "tester",
                    "action": "imported",
                    "details": f"from {row.source_file}:{row.source_line}",
                }
                for row in rows
            ],
        )
    theirs = _raw_table(db, "agreements", "source_line")
    their_events = _raw_table(db, "agreement_events", "details")

    assert ours == theirs
    # The events point at other ids now: compare them without agreement_id.
    assert [event[1:] for event in our_events] == [event[1:] for event in their_events]
    assert len(ours) == 3
    assert len(our_events) == 3


def import_in_batches(
    db: Database, rows: list[AgreementInput], batch_rows: int, now: datetime = NOW
) -> store.ImportOutcome:
    """Import `rows` through ImportInBatches, `batch_rows` at a time, in one session."""
    with db.session() as session:
        batches = store.ImportInBatches(session, now=now, actor="tester")
        for start in range(0, len(rows), batch_rows):
            batches.add(rows[start : start + batch_rows])
        return batches.finish()


def test_batches_store_what_one_import_stores(db: Database) -> None:
    # The rows of one partner and programme fall in different batches: supersession is
    # still decided once over all of them, with one event per change.
    oldest = make_row("partner a", concluded=date(2010, 1, 1), effective_until=date(2015, 1, 1))
    newest = make_row("partner a", concluded=date(2020, 1, 1), effective_until=date(2025, 1, 1))
    middle = make_row("partner a", concluded=date(2015, 1, 1), effective_until=date(2020, 1, 1))
    others = [make_row(f"partner {index}") for index in range(2, 9)]
    rows = [
        replace(row, source_line=line)
        for line, row in enumerate([oldest, *others[:3], newest, *others[3:], middle], start=2)
    ]

    outcome = import_in_batches(db, rows, batch_rows=3)

    assert (outcome.new, outcome.updated, outcome.unchanged, outcome.superseded) == (10, 0, 0, 2)
    agreements = stored(db)
    current = agreements[_identity(newest)]
    assert current.lifecycle is Lifecycle.ACTIVE
    for row in (oldest, middle):
        agreement = agreements[_identity(row)]
        assert (agreement.lifecycle, agreement.superseded_by_id) == (
            Lifecycle.SUPERSEDED,
            current.id,
        )
        assert actions(db, agreement.id) == ["imported", "superseded"]
    assert actions(db, current.id) == ["imported"]
    # Ids follow the rows across batches.
    assert [agreements[_identity(row)].id for row in rows] == sorted(
        agreement.id for agreement in agreements.values()
    )

    changed = replace(rows[1], notes="renewed")
    again = import_in_batches(db, [*rows[:1], changed, *rows[2:]], batch_rows=4, now=LATER)
    assert (again.new, again.updated, again.unchanged, again.superseded) == (0, 1, 9, 0)
    assert actions(db, stored(db)[_identity(changed)].id) == ["imported", "updated"]


def test_batches_refuse_a_duplicate_of_an_earlier_batch_and_write_nothing(db: Database) -> None:
    first = make_row("partner a")
    rows = [first, make_row("partner b"), make_row("partner c"), replace(first, source_line=99)]

    with pytest.raises(InputError) as raised:
        import_in_batches(db, rows, batch_rows=2)

    assert raised.value.problems == (
        f"agreements.tsv:99: same partner, programme and conclusion date as "
        f"agreements.tsv:{first.source_line}",
    )
    with db.session(read_only=True) as session:
        assert count_agreements(session) == 0


def _identity(row: AgreementInput) -> tuple[str, str, date]:
    return (row.partner_key, row.programme_key, row.concluded)


def test_a_driver_with_named_parameters_gets_sqlalchemy_statements(tmp_path: Path) -> None:
    # The import hands positional parameters to the driver itself; a driver taking
    # named ones goes through SQLAlchemy's insert and update, with the same result.
    engine = create_engine(f"sqlite:///{tmp_path / 'named.db'}", paramstyle="named")
    Base.metadata.create_all(engine)
    named = Database(engine, "named")
    try:
        older = make_row("partner a", concluded=date(2015, 1, 1), effective_until=date(2020, 1, 1))
        newer = make_row("partner a")
        outcome = import_rows(named, [older, newer])
        again = import_in_batches(named, [older, replace(newer, notes="new")], 1, now=LATER)

        assert (outcome.new, outcome.superseded) == (2, 1)
        assert (again.updated, again.unchanged) == (1, 1)
        agreements = stored(named)
        current = agreements[_identity(newer)]
        superseded = agreements[_identity(older)]
        assert (superseded.lifecycle, superseded.superseded_by_id) == (
            Lifecycle.SUPERSEDED,
            current.id,
        )
        assert (current.notes, current.created_at, current.updated_at) == ("new", NOW, LATER)
        assert actions(named, superseded.id) == ["imported", "superseded"]
        assert actions(named, current.id) == ["imported", "updated"]
    finally:
        named.close()


def test_naive_now_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="naive"), db.session() as session:
        apply_import(session, [make_row()], now=datetime(2025, 3, 1, 9, 30), actor="tester")


def test_large_import_crosses_chunks_on_every_database(db: Database) -> None:
    partners = import_writes.IMPORT_CHUNK_PARTNERS * 2 + 17
    rows = [make_row(f"partner {index:05d}") for index in range(partners)]
    rows += [
        make_row("partner 00000", concluded=date(2015, 1, 1), effective_until=date(2020, 1, 1))
    ]

    first = import_rows(db, rows)
    second = import_rows(db, rows, now=LATER)

    assert (first.new, first.superseded) == (partners + 1, 1)
    assert (second.new, second.updated, second.unchanged, second.superseded) == (
        0,
        0,
        partners + 1,
        0,
    )
    with db.session(read_only=True) as session:
        assert count_agreements(session) == partners + 1


def test_keys_differing_only_in_case_or_accents_are_different_partners(db: Database) -> None:
    # MariaDB's default collations would call these equal; the keys compare exactly.
    rows = [
        make_row("universite de lyon"),
        make_row("université de lyon"),
        make_row("UNIVERSITE DE LYON"),
    ]

    outcome = import_rows(db, rows)
    again = import_rows(db, rows, now=LATER)

    assert outcome.new == 3
    assert (again.new, again.unchanged) == (0, 3)
    assert {identity[0] for identity in stored(db)} == {row.partner_key for row in rows}


def test_keys_with_quotes_backslashes_and_placeholders_are_found_again(db: Database) -> None:
    # The keys of a chunk are written into the lookup statement: escaping must hold.
    keys = [
        "o'brien college",
        "back\\slash \\' institute",
        'double "quoted" academy',
        "percent %s %(name)s %% school",
        "colon :name ? university",
        "line\nbreak; DROP TABLE agreements; --",
        "日本大学",
    ]
    rows = [make_row(key) for key in keys]

    first = import_rows(db, rows)
    second = import_rows(db, rows, now=LATER)

    assert (first.new, second.unchanged, second.new) == (len(keys), len(keys), 0)
    assert {identity[0] for identity in stored(db)} == set(keys)


# ---------------------------------------------------------------------------------------
# Supersession


def test_latest_agreement_supersedes_older_ones_of_the_same_programme(db: Database) -> None:
    oldest = make_row(concluded=date(2012, 3, 1), effective_until=date(2017, 2, 28))
    middle = make_row(concluded=date(2017, 3, 1), effective_until=date(2022, 2, 28))
    newest = make_row(concluded=date(2022, 3, 1), effective_until=date(2027, 2, 28))
    other_programme = make_row(
        concluded=date(2010, 1, 1),
        effective_until=date(2015, 1, 1),
        programme="Bilateral",
        programme_key="bilateral",
    )

    # Newest first: the order of the rows must not matter.
    outcome = import_rows(db, [newest, other_programme, oldest, middle])

    assert (outcome.new, outcome.superseded) == (4, 2)
    agreements = stored(db)
    current = agreements["universidade do porto", "erasmus+", newest.concluded]
    assert (current.lifecycle, current.superseded_by_id) == (Lifecycle.ACTIVE, None)
    for row in (oldest, middle):
        agreement = agreements["universidade do porto", "erasmus+", row.concluded]
        assert agreement.lifecycle is Lifecycle.SUPERSEDED
        assert agreement.superseded_by_id == current.id
        assert actions(db, agreement.id) == ["imported", "superseded"]
    untouched = agreements["universidade do porto", "bilateral", other_programme.concluded]
    assert (untouched.lifecycle, untouched.superseded_by_id) == (Lifecycle.ACTIVE, None)


def test_a_later_import_supersedes_what_an_earlier_one_stored(db: Database) -> None:
    old = make_row(concluded=date(2016, 1, 1), effective_until=date(2021, 1, 1))
    import_rows(db, [old])
    new = make_row(concluded=date(2021, 1, 1), effective_until=date(2026, 1, 1))

    outcome = import_rows(db, [new], now=LATER)

    assert (outcome.new, outcome.unchanged, outcome.superseded) == (1, 0, 1)
    agreements = stored(db)
    old_agreement = agreements["universidade do porto", "erasmus+", old.concluded]
    new_agreement = agreements["universidade do porto", "erasmus+", new.concluded]
    assert old_agreement.lifecycle is Lifecycle.SUPERSEDED
    assert old_agreement.superseded_by_id == new_agreement.id
    assert old_agreement.updated_at == LATER


def test_same_end_date_goes_to_the_later_conclusion(db: Database) -> None:
    earlier = make_row(concluded=date(2020, 1, 1), effective_until=date(2026, 1, 1))
    later = make_row(concluded=date(2021, 1, 1), effective_until=date(2026, 1, 1))

    import_rows(db, [later, earlier])

    agreements = stored(db)
    assert agreements["universidade do porto", "erasmus+", later.concluded].lifecycle is (
        Lifecycle.ACTIVE
    )
    assert agreements["universidade do porto", "erasmus+", earlier.concluded].lifecycle is (
        Lifecycle.SUPERSEDED
    )


def test_an_older_agreement_extended_past_the_newer_becomes_current_again(db: Database) -> None:
    old = make_row(concluded=date(2016, 1, 1), effective_until=date(2021, 1, 1))
    new = make_row(concluded=date(2021, 1, 1), effective_until=date(2026, 1, 1))
    import_rows(db, [old, new])

    outcome = import_rows(db, [replace(old, effective_until=date(2030, 1, 1))], now=LATER)

    assert (outcome.updated, outcome.superseded, outcome.current_again) == (1, 1, 1)
    agreements = stored(db)
    old_agreement = agreements["universidade do porto", "erasmus+", old.concluded]
    new_agreement = agreements["universidade do porto", "erasmus+", new.concluded]
    assert (old_agreement.lifecycle, old_agreement.superseded_by_id) == (Lifecycle.ACTIVE, None)
    assert new_agreement.lifecycle is Lifecycle.SUPERSEDED
    assert new_agreement.superseded_by_id == old_agreement.id
    assert actions(db, old_agreement.id) == ["imported", "superseded", "updated", "current_again"]


def test_retired_agreement_stays_retired_through_an_import(db: Database) -> None:
    old = make_row(concluded=date(2012, 1, 1), effective_until=date(2017, 1, 1))
    middle = make_row(concluded=date(2017, 1, 1), effective_until=date(2022, 1, 1))
    import_rows(db, [old, middle])
    with db.session() as session:
        (middle_agreement,) = iter_agreements(session, lifecycles=[Lifecycle.ACTIVE])
        middle_agreement.lifecycle = Lifecycle.RETIRED
        middle_agreement.retired_reason = "partner left the programme"
    newest = make_row(concluded=date(2022, 1, 1), effective_until=date(2027, 1, 1))

    outcome = import_rows(db, [old, middle, newest], now=LATER)

    assert (outcome.new, outcome.unchanged, outcome.superseded) == (1, 2, 0)
    agreements = stored(db)
    newest_agreement = agreements["universidade do porto", "erasmus+", newest.concluded]
    retired = agreements["universidade do porto", "erasmus+", middle.concluded]
    old_agreement = agreements["universidade do porto", "erasmus+", old.concluded]
    assert retired.lifecycle is Lifecycle.RETIRED
    assert retired.superseded_by_id is None
    assert newest_agreement.lifecycle is Lifecycle.ACTIVE
    assert old_agreement.lifecycle is Lifecycle.SUPERSEDED
    assert old_agreement.superseded_by_id == newest_agreement.id


def test_older_agreements_stay_superseded_when_the_latest_is_retired(db: Database) -> None:
    old = make_row(concluded=date(2016, 1, 1), effective_until=date(2021, 1, 1))
    new = make_row(concluded=date(2021, 1, 1), effective_until=date(2026, 1, 1))
    import_rows(db, [old, new])
    agreements = stored(db)
    new_id = agreements["universidade do porto", "erasmus+", new.concluded].id
    with db.session() as session:
        new_agreement = get_agreement(session, new_id)
        assert new_agreement is not None
        new_agreement.lifecycle = Lifecycle.RETIRED

        changes = resupersede(
            session, "universidade do porto", "erasmus+", now=LATER, actor="tester"
        )

    assert changes == store.SupersessionChanges()
    agreements = stored(db)
    old_agreement = agreements["universidade do porto", "erasmus+", old.concluded]
    assert old_agreement.lifecycle is Lifecycle.SUPERSEDED
    assert old_agreement.superseded_by_id == new_id
    assert agreements["universidade do porto", "erasmus+", new.concluded].lifecycle is (
        Lifecycle.RETIRED
    )


def test_resupersede_reports_what_it_changed(db: Database) -> None:
    first = make_row(concluded=date(2016, 1, 1), effective_until=date(2021, 1, 1))
    second = make_row(concluded=date(2021, 1, 1), effective_until=date(2026, 1, 1))
    import_rows(db, [first, second])
    agreements = stored(db)
    first_id = agreements["universidade do porto", "erasmus+", first.concluded].id
    second_id = agreements["universidade do porto", "erasmus+", second.concluded].id
    with db.session() as session:
        # As a renewal would: the old agreement is extended beyond the newer one.
        first_agreement = get_agreement(session, first_id)
        assert first_agreement is not None
        first_agreement.effective_until = date(2031, 1, 1)

        changes = resupersede(
            session, "universidade do porto", "erasmus+", now=LATER, actor="renewal"
        )

    assert changes == store.SupersessionChanges(
        superseded_ids=(second_id,), current_again_ids=(first_id,)
    )
    with db.session(read_only=True) as session:
        events = agreement_history(session, second_id)
    assert (events[-1].action, events[-1].actor) == ("superseded", "renewal")


def test_chunk_boundaries_do_not_split_a_partner(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_writes, "IMPORT_CHUNK_PARTNERS", 2)
    rows = [
        make_row(partner, concluded=date(year, 1, 1), effective_until=date(year + 5, 1, 1))
        for partner in ("alpha", "beta", "gamma", "delta", "epsilon")
        for year in (2010, 2015, 2020)
    ]

    outcome = import_rows(db, rows)

    assert (outcome.new, outcome.superseded) == (15, 10)
    with db.session(read_only=True) as session:
        active = list(iter_agreements(session, lifecycles=[Lifecycle.ACTIVE]))
    assert sorted((agreement.partner_key, agreement.concluded.year) for agreement in active) == [
        (partner, 2020) for partner in sorted(("alpha", "beta", "gamma", "delta", "epsilon"))
    ]


# ---------------------------------------------------------------------------------------
# Listing


def test_iter_agreements_orders_by_end_date_then_id_and_filters(db: Database) -> None:
    until_dates = [date(2026, 9, 30), date(2025, 1, 31), date(2026, 9, 30), date(2030, 12, 31)]
    rows = [
        make_row(f"partner {index}", effective_until=until)
        for index, until in enumerate(until_dates)
    ]
    rows.append(make_row("partner 0", concluded=date(2010, 1, 1), effective_until=date(2015, 1, 1)))
    import_rows(db, rows)

    with db.session(read_only=True) as session:
        everything = [
            (agreement.effective_until, agreement.id) for agreement in iter_agreements(session)
        ]
        active_until_2026 = [
            agreement.effective_until
            for agreement in iter_agreements(
                session,
                lifecycles=[Lifecycle.ACTIVE],
                until_from=date(2015, 1, 1),
                until_to=date(2026, 9, 30),
            )
        ]
        superseded = [
            agreement.partner_key
            for agreement in iter_agreements(session, lifecycles=[Lifecycle.SUPERSEDED])
        ]
        from_2026 = [
            agreement.effective_until
            for agreement in iter_agreements(session, until_from=date(2026, 9, 30))
        ]
        none_at_all = list(iter_agreements(session, lifecycles=[]))

    assert everything == sorted(everything)
    assert len(everything) == 5
    # Both bounds are inclusive; the superseded agreement ending 2015-01-01 is left out.
    assert active_until_2026 == [date(2025, 1, 31), date(2026, 9, 30), date(2026, 9, 30)]
    assert superseded == ["partner 0"]
    assert from_2026 == [date(2026, 9, 30), date(2026, 9, 30), date(2030, 12, 31)]
    assert none_at_all == []


def test_get_agreement_returns_none_for_an_unknown_id(db: Database) -> None:
    import_rows(db, [make_row()])
    (agreement,) = stored(db).values()
    with db.session(read_only=True) as session:
        found = get_agreement(session, agreement.id)
        assert found is not None
        assert found.partner_key == "universidade do porto"
        assert get_agreement(session, agreement.id + 1000) is None


# ---------------------------------------------------------------------------------------
# Time stamps


def test_time_stamps_come_back_as_the_same_instant_in_utc(db: Database) -> None:
    lisbon_summer = timezone(timedelta(hours=1))
    now = datetime(2025, 7, 14, 10, 45, 30, 654321, tzinfo=lisbon_summer)

    import_rows(db, [make_row()], now=now)

    (agreement,) = stored(db).values()
    assert agreement.created_at == now
    assert agreement.created_at.tzinfo is UTC
    assert agreement.created_at.hour == 9
    assert agreement.created_at.microsecond == 654321


def test_utc_datetime_refuses_naive_datetimes(db: Database) -> None:
    with db.session(read_only=True) as session:
        dialect = session.get_bind().dialect
    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime().process_bind_param(datetime(2025, 3, 1, 9, 30), dialect)


@pytest.mark.parametrize("skip_invalid", [True, False])
def test_a_row_repeating_an_earlier_row_of_its_file_is_a_bad_row(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skip_invalid: bool
) -> None:
    # The import finds it in the database, batches apart (two rows per batch here).
    monkeypatch.setattr(pipeline, "IMPORT_BATCH_ROWS", 2)
    table = tmp_path / "agreements.csv"
    lines = ["University;Country;Conclusion date;Effective until"]
    lines += [f"University {index};Georgia;10.01.2019;2024" for index in range(5)]
    lines.insert(5, "University 1;Georgia;10.01.2019;2025")  # line 6 repeats line 3
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "reminder.toml").write_text("", encoding="utf-8")
    config = load_config(str(tmp_path / "reminder.toml"))  # the defaults

    def run() -> pipeline.IngestReport:
        tables = pipeline.open_tables([table], config)
        return pipeline.import_tables(db, tables, now=NOW, skip_invalid=skip_invalid, dry_run=False)

    problem = f"{table}:6: the same partner, programme and conclusion date as line 3"
    if not skip_invalid:
        with pytest.raises(InputError) as raised:
            run()
        assert problem in raised.value.problems
        assert stored(db) == {}
        return
    report = run()
    assert report.problems == [problem]
    assert (report.rows_read, report.new) == (6, 5)
    assert {agreement.source_line for agreement in stored(db).values()} == {2, 3, 4, 5, 7}
