"""Four hundred days of daily reminder runs, under a frozen clock, on SQLite.

A portfolio chosen to hit every case (ends mid-walk, ends right after the start,
lapsed at the start within and beyond the notice lookback, imported late inside the
30-day window, corrected mid-walk, superseded mid-walk, with a coordinator of its own)
is walked one day at a time with one run a day, and a second run the same day. Ten
days of runs are skipped, as an outage would. What every agreement received, and on
which day, is checked against sequences written out by hand below, not computed.

The walk runs on SQLite only, to stay quick: the ledger's behaviour on PostgreSQL and
MariaDB is covered by test_reminder_run.py, whose tests run on all three.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from factories import agreement_input
from freezegun import freeze_time
from sqlalchemy import select

from reminder import store
from reminder.cli.mail import build_context
from reminder.config.loading import build_config
from reminder.domain.records import AgreementInput
from reminder.runs.context import Context
from reminder.runs.job import run_job
from reminder.runs.report import RunReport
from reminder.store.database import Database, open_database
from reminder.store.models import Agreement, Message, Reminder

ZONE = ZoneInfo("Europe/Istanbul")
FIRST_DAY = date(2022, 1, 3)
DAYS = 400  # through 2023-02-06
OUTAGE = {date(2022, 7, 10) + timedelta(days=n) for n in range(10)}  # 10 through 19 July
OFFICE = "office@example.edu"
OWN = "own.coordinator@partner.example"


def agreement(partner: str, until: date, **overrides: Any) -> AgreementInput:
    """Return an import row for `partner` in Mevlana, in force until `until`."""
    return replace(
        agreement_input(partner, effective_until=until, source_file="walk.tsv"), **overrides
    )


MID_WALK = agreement("Ends Mid-Walk University", date(2022, 7, 22))
RIGHT_AFTER_START = agreement("Ends Right After Start University", date(2022, 1, 6))
LAPSED_WITHIN_LOOKBACK = agreement("Lapsed 30 Days Ago University", date(2021, 12, 4))
LAPSED_BEYOND_LOOKBACK = agreement("Lapsed 31 Days Ago University", date(2021, 12, 3))
LATE_IMPORT = agreement("Imported Late University", date(2022, 6, 22))
CORRECTED = agreement("Corrected University", date(2022, 3, 1))
CORRECTION = replace(CORRECTED, effective_until=date(2022, 12, 31))
SUPERSEDED = agreement("Superseded University", date(2022, 5, 1))
SUCCESSOR = replace(SUPERSEDED, concluded=date(2022, 3, 1), effective_until=date(2027, 3, 1))
OWN_COORDINATOR = agreement("Own Coordinator University", date(2022, 9, 30), coordinator_email=OWN)
ENDS_IN_OUTAGE = agreement("Ends In The Outage University", date(2022, 7, 18))
AFTER_WALK = agreement("Ends After The Walk University", date(2023, 6, 30))

#: What is imported on which day, before that day's run.
IMPORTS = {
    FIRST_DAY: [
        MID_WALK,
        RIGHT_AFTER_START,
        LAPSED_WITHIN_LOOKBACK,
        LAPSED_BEYOND_LOOKBACK,
        CORRECTED,
        SUPERSEDED,
        OWN_COORDINATOR,
        ENDS_IN_OUTAGE,
        AFTER_WALK,
    ],
    date(2022, 2, 10): [CORRECTION],  # effective until 2022-03-01 -> 2022-12-31
    date(2022, 3, 15): [SUCCESSOR],  # a newer agreement with the same partner
    date(2022, 6, 2): [LATE_IMPORT],  # 20 days left on its first day
}

# (day sent, window) per agreement, worked out by hand from windows 180/90/30/7 and
# notices (window 0) for agreements lapsed at most 30 days. A window's day is the
# effective-until date minus the window; the notice's is the day after it ends.
SENT: dict[AgreementInput, list[tuple[date, int]]] = {
    MID_WALK: [
        (date(2022, 1, 23), 180),
        (date(2022, 4, 23), 90),
        (date(2022, 6, 22), 30),
        (date(2022, 7, 20), 7),  # due 15 July, in the outage: sent late, still 7
        (date(2022, 7, 23), 0),
    ],
    # 3 days left on the first day: the 7-day reminder at once, the rest skipped.
    RIGHT_AFTER_START: [(date(2022, 1, 3), 7), (date(2022, 1, 7), 0)],
    # Lapsed 30 days before the first run: still within the lookback.
    LAPSED_WITHIN_LOOKBACK: [(date(2022, 1, 3), 0)],
    LAPSED_BEYOND_LOOKBACK: [],
    LATE_IMPORT: [(date(2022, 6, 2), 30), (date(2022, 6, 15), 7), (date(2022, 6, 23), 0)],
    CORRECTED: [
        (date(2022, 1, 3), 90),  # 57 days left on the first day
        (date(2022, 1, 30), 30),
        # Corrected on 10 February to end 2022-12-31: every window afresh.
        (date(2022, 7, 4), 180),
        (date(2022, 10, 2), 90),
        (date(2022, 12, 1), 30),
        (date(2022, 12, 24), 7),
        (date(2023, 1, 1), 0),
    ],
    # 118 days left on the first day; superseded on 15 March, before its 30-day day.
    SUPERSEDED: [(date(2022, 1, 3), 180), (date(2022, 1, 31), 90)],
    SUCCESSOR: [],
    OWN_COORDINATOR: [
        (date(2022, 4, 3), 180),
        (date(2022, 7, 2), 90),
        (date(2022, 8, 31), 30),
        (date(2022, 9, 23), 7),
        (date(2022, 10, 1), 0),
    ],
    ENDS_IN_OUTAGE: [
        (date(2022, 1, 19), 180),
        (date(2022, 4, 19), 90),
        (date(2022, 6, 18), 30),
        # Its 7-day day (11 July) and its notice day (19 July) fell in the outage: only
        # the notice goes out, the 7-day reminder is recorded as skipped.
        (date(2022, 7, 20), 0),
    ],
    AFTER_WALK: [(date(2023, 1, 1), 180)],
}
# (day recorded, window) of the windows jumped over and recorded as skipped.
SKIPPED: dict[AgreementInput, list[tuple[date, int]]] = {
    RIGHT_AFTER_START: [(date(2022, 1, 3), 180), (date(2022, 1, 3), 90), (date(2022, 1, 3), 30)],
    LAPSED_WITHIN_LOOKBACK: [
        (date(2022, 1, 3), 180),
        (date(2022, 1, 3), 90),
        (date(2022, 1, 3), 30),
        (date(2022, 1, 3), 7),
    ],
    LATE_IMPORT: [(date(2022, 6, 2), 180), (date(2022, 6, 2), 90)],
    CORRECTED: [(date(2022, 1, 3), 180)],
    ENDS_IN_OUTAGE: [(date(2022, 7, 20), 7)],
}


def walk_context(tmp_path: Path, database: Database) -> Context:
    config = build_config(
        {
            "timezone": "Europe/Istanbul",
            "reminders": {
                "windows": [180, 90, 30, 7],
                "notify_expired": True,
                "expired_lookback_days": 30,
                "default_recipient": OFFICE,
            },
            "mail": {"transport": "outbox", "outbox_dir": str(tmp_path / "outbox")},
        },
        None,
        {},
    )
    return build_context(config, database)


def run_day(context: Context, day: date) -> RunReport:
    """Run the reminder job for `day` at the frozen time, as the service would."""
    return asyncio.run(run_job(context, "reminders", as_of=day, now=datetime.now(UTC)))


def test_a_400_day_walk_sends_each_window_once_on_its_day(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'walk.sqlite3'}", migrate=True)
    context = walk_context(tmp_path, database)
    outbox = tmp_path / "outbox"
    written_on: dict[str, date] = {}  # outbox file name -> the day it was written
    sent_per_day: dict[date, int] = {}

    with database, freeze_time(datetime(2022, 1, 3, 8, tzinfo=ZONE), real_asyncio=True) as clock:
        for offset in range(DAYS):
            day = FIRST_DAY + timedelta(days=offset)
            clock.move_to(datetime.combine(day, time(8), tzinfo=ZONE))
            if day in IMPORTS:
                with database.session() as session:
                    store.apply_import(session, IMPORTS[day], now=datetime.now(UTC), actor="walk")
            if day in OUTAGE:
                continue
            report = run_day(context, day)
            assert report.exit_status == 0, (day, report.summary)
            sent_per_day[day] = report.delivery.sent
            for path in outbox.glob("*.eml") if outbox.exists() else ():
                written_on.setdefault(path.name, day)
            if report.recorded_messages:  # a second run the same day sends nothing
                clock.move_to(datetime.combine(day, time(20), tzinfo=ZONE))
                again = run_day(context, day)
                assert (again.due, again.recorded_messages, again.delivery.messages) == (
                    0,
                    0,
                    [],
                )
        rows = ledger_rows(database)
        labels = agreement_labels(database)

    sent: dict[AgreementInput, list[tuple[date, int]]] = defaultdict(list)
    skipped: dict[AgreementInput, list[tuple[date, int]]] = defaultdict(list)
    for agreement_id, _, window, recipient, state, decided_on, message in rows:
        row = labels[agreement_id]
        assert recipient == (OWN if row is OWN_COORDINATOR else OFFICE)
        if state == "skipped":
            skipped[row].append((decided_on, window))
            continue
        assert message is not None
        message_state, message_id = message
        assert message_state == "sent"
        sent[row].append((decided_on, window))
        # The message went out on the day the reminder was decided, and shows the card.
        eml = outbox / f"{message_id.strip('<>')}.eml"
        assert written_on[eml.name] == decided_on
        parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        assert recipient in str(parsed["To"])
        body = parsed.get_body(preferencelist=("plain",))
        assert body is not None
        assert f"(#{agreement_id})" in body.get_content()
    for expectations, actual in ((SENT, sent), (SKIPPED, skipped)):
        for row, expected in expectations.items():
            assert sorted(actual[row]) == sorted(expected), row.partner
        assert set(actual) <= set(expectations)
    # The corrected agreement's first two reminders belong to its first end date.
    corrected = sorted((row[5], row[1]) for row in rows if labels[row[0]] is CORRECTED)
    assert [until for _, until in corrected] == [date(2022, 3, 1)] * 3 + [date(2022, 12, 31)] * 5
    assert sum(sent_per_day.values()) == len(written_on)
    assert set(sent_per_day) == {FIRST_DAY + timedelta(days=n) for n in range(DAYS)} - OUTAGE


def ledger_rows(
    database: Database,
) -> list[tuple[int, date, int, str, str, date, tuple[str, str] | None]]:
    """Return every ledger entry with the state and Message-ID of its message."""
    with database.session(read_only=True) as session:
        rows = session.execute(
            select(
                Reminder.agreement_id,
                Reminder.effective_until,
                Reminder.window_days,
                Reminder.recipient,
                Reminder.state,
                Reminder.decided_on,
                Message.state,
                Message.message_id,
            ).outerjoin(Message, Reminder.message_pk == Message.id)
        ).all()
    return [
        (a, until, window, recipient, str(state), decided, None if ms is None else (str(ms), mid))
        for a, until, window, recipient, state, decided, ms, mid in rows
    ]


def agreement_labels(database: Database) -> dict[int, AgreementInput]:
    """Return which import row each stored agreement came from, by id."""
    rows = [row for day_rows in IMPORTS.values() for row in day_rows]
    by_identity: dict[tuple[str, date], AgreementInput] = {}
    for row in rows:  # a correction keeps its agreement's identity: label it as the first
        by_identity.setdefault((row.partner_key, row.concluded), row)
    with database.session(read_only=True) as session:
        stored = session.execute(
            select(Agreement.id, Agreement.partner_key, Agreement.concluded)
        ).all()
    return {id_: by_identity[(key, concluded)] for id_, key, concluded in stored}
