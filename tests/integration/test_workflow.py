"""Renew, amend, retire, reinstate and snooze, and what the next runs send because of them.

The store functions run on SQLite, PostgreSQL and MariaDB; the runs go through
`reminder.runs.job.run_job` with the context the CLI composes (the calendar attachments
included) and the outbox transport writing .eml files into tmp_path. The long walk
over a month of daily runs drives the `reminder` command in-process under freezegun,
on SQLite only.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from factories import agreement_input
from freezegun import freeze_time
from icalendar import Calendar
from sqlalchemy import select

from reminder import store
from reminder.cli import main
from reminder.cli.mail import build_context
from reminder.config.loading import build_config
from reminder.config.schema import Config
from reminder.domain.records import AgreementInput, Lifecycle, UntilSource
from reminder.errors import InputError
from reminder.runs.job import run_job
from reminder.runs.report import RunReport
from reminder.runs.weekly_run import plan_weekly
from reminder.store.database import Database, open_database
from reminder.store.models import Agreement, Reminder, ReminderState

ZONE = ZoneInfo("Europe/Istanbul")
SENDER = "Agreement reminders <reminder@example.edu>"
UID_DOMAIN = "reminder.example.edu"
AYSE = "ayse.yilmaz@example.edu"
MEHMET = "mehmet.demir@example.edu"
HEAD = "head.of.office@example.edu"
OFFICE = "office@example.edu"
COORDINATORS = [
    {"name": "Ayşe Yılmaz", "email": AYSE, "countries": ["AZ", "GE"]},
    {"name": "Mehmet Demir", "email": MEHMET, "countries": ["PK", "JP"]},
]
ACTOR = "tester"
# A Tuesday; the day the walk starts.
START = date(2022, 3, 1)
CANCEL_FILE = "agreements-cancelled.ics"


def at_eight(day: date) -> datetime:
    """Return 08:00 in Istanbul on `day`, when the scheduled runs happen."""
    return datetime.combine(day, time(8), tzinfo=ZONE)


# --- the parts ----------------------------------------------------------------------------


def config_document(database_url: str, tmp_path: Path, **sections: Any) -> dict[str, Any]:
    """Return a config document; `sections` replace whole top-level tables."""
    document: dict[str, Any] = {
        "timezone": "Europe/Istanbul",
        "database": {"url": database_url},
        "agreements": {"term_years": 5, "default_programme": "Mevlana"},
        "reminders": {"windows": [30, 7], "notify_expired": True, "expired_lookback_days": 30},
        "coordinators": COORDINATORS,
        "escalation": {"at_window": 7, "cc": [HEAD]},
        "mail": {
            "transport": "outbox",
            "from": SENDER,
            "outbox_dir": str(tmp_path / "outbox"),
        },
    }
    document.update(sections)
    return document


def make_config(database_url: str, tmp_path: Path, **sections: Any) -> Config:
    return build_config(config_document(database_url, tmp_path, **sections), None, {})


def row(
    partner: str,
    country_code: str,
    effective_until: date,
    *,
    concluded: date | None = None,
    line: int = 2,
    programme: str = "Mevlana",
) -> AgreementInput:
    """Return an import row of an exactly dated agreement."""
    return agreement_input(
        partner,
        partner_key=partner.casefold(),
        country={"AZ": "Azerbaijan", "GE": "Georgia", "PK": "Pakistan", "JP": "Japan"}.get(
            country_code, country_code
        ),
        country_code=country_code,
        programme=programme,
        programme_key=programme.casefold(),
        concluded=concluded or effective_until.replace(year=effective_until.year - 5),
        effective_until=effective_until,
        source_line=line,
    )


def import_rows(db: Database, rows: list[AgreementInput], now: datetime) -> store.ImportOutcome:
    with db.session() as session:
        return store.apply_import(session, rows, now=now, actor=ACTOR)


def run(config: Config, db: Database, job: str, day: date) -> RunReport:
    """Run `job` for `day` at 08:00 as the scheduler would."""
    return asyncio.run(run_job(build_context(config, db), job, as_of=day, now=at_eight(day)))


@dataclass(frozen=True)
class Mail:
    """One message the outbox received, as a person would read it."""

    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    text: str
    calendars: dict[str, Calendar]  # by attachment file name

    def uids(self, filename: str = "agreements.ics") -> set[str]:
        calendar = self.calendars.get(filename)
        if calendar is None:
            return set()
        return {str(event["UID"]) for event in calendar.walk("VEVENT")}


def read_outbox(folder: Path, seen: set[Path]) -> list[Mail]:
    """Return the messages written to `folder` that are not in `seen`, adding them."""
    mails = []
    for path in sorted(folder.glob("*.eml")) if folder.is_dir() else []:
        if path in seen:
            continue
        seen.add(path)
        message = message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        calendars = {
            str(part.get_filename()): Calendar.from_ical(part.get_content())
            for part in message.iter_attachments()
            if part.get_content_type() == "text/calendar"
        }
        mails.append(
            Mail(
                to=tuple(a.addr_spec for a in message["To"].addresses),
                cc=tuple(a.addr_spec for a in message["Cc"].addresses) if message["Cc"] else (),
                subject=str(message["Subject"]),
                text=str(body.get_content()),
                calendars=calendars,
            )
        )
    return mails


def uid(agreement_id: int, until: date) -> str:
    return f"agreement-{agreement_id}-{until:%Y%m%d}@{UID_DOMAIN}"


def decided_on(db: Database, day: date) -> set[tuple[int, int, str]]:
    """Return (agreement, window, recipient) of the reminders queued on `day`."""
    with db.session(read_only=True) as session:
        rows = session.execute(
            select(Reminder.agreement_id, Reminder.window_days, Reminder.recipient).where(
                Reminder.decided_on == day, Reminder.state == ReminderState.QUEUED
            )
        )
        return {(agreement_id, window, recipient) for agreement_id, window, recipient in rows}


def lifecycle(db: Database, agreement_id: int) -> tuple[Lifecycle, int | None]:
    with db.session(read_only=True) as session:
        agreement = session.get_one(Agreement, agreement_id)
        return Lifecycle(agreement.lifecycle), agreement.superseded_by_id


def history(db: Database, agreement_id: int) -> list[tuple[str, str, str]]:
    """Return (action, actor, details) of an agreement's events, oldest first."""
    with db.session(read_only=True) as session:
        record = store.agreement_record(session, agreement_id)
    assert record is not None
    return [(entry.action, entry.actor, entry.details) for entry in record.history]


@pytest.fixture
def outbox_seen() -> set[Path]:
    return set()


# --- renewal and amendment, on every database ----------------------------------------------


def test_a_renewal_is_a_new_agreement_that_supersedes_the_old(db: Database) -> None:
    now = at_eight(START)
    import_rows(db, [row("Alpha University", "AZ", START + timedelta(days=10))], now)
    with db.session() as session:
        renewal = store.renew_agreement(
            session,
            1,
            concluded=START,
            effective_until=date(2027, 3, 1),
            until_source=UntilSource.TERM,
            now=now,
            actor=ACTOR,
        )
    assert (renewal.renewed_id, renewal.renewal_id, renewal.superseded_ids) == (1, 2, (1,))
    assert lifecycle(db, 1) == (Lifecycle.SUPERSEDED, 2)
    assert lifecycle(db, 2) == (Lifecycle.ACTIVE, None)
    with db.session(read_only=True) as session:
        record = store.agreement_record(session, 2)
        old = store.agreement_record(session, 1)
    assert record is not None and old is not None
    new = record.agreement
    assert (new.partner, new.country_code, new.programme) == ("Alpha University", "AZ", "Mevlana")
    assert (new.concluded, new.effective_until) == (START, date(2027, 3, 1))
    assert new.effective_until_source is UntilSource.TERM
    assert [other.id for other in record.predecessors] == [1]
    assert record.successors == ()
    assert [other.id for other in old.successors] == [2]
    assert history(db, 2) == [
        ("renewed", ACTOR, "renews agreement #1 (until 2022-03-11): concluded 2022-03-01, "
         "until 2027-03-01"),
    ]  # fmt: skip
    assert history(db, 1)[-1] == (
        "superseded",
        ACTOR,
        "superseded by agreement #2 (until 2027-03-01)",
    )


def test_a_table_that_lists_the_renewal_later_finds_it(db: Database) -> None:
    """Identity is partner + programme + conclusion date: no duplicate, no reminder."""
    now = at_eight(START)
    old = row("Alpha University", "AZ", START + timedelta(days=10), line=2)
    import_rows(db, [old], now)
    with db.session() as session:
        store.renew_agreement(
            session,
            1,
            concluded=START,
            effective_until=date(2027, 3, 1),
            until_source=UntilSource.TERM,
            now=now,
            actor=ACTOR,
        )
    # The office's next table has both rows; its own end date wins over the term.
    renewed_row = row("Alpha University", "AZ", date(2027, 2, 28), concluded=START, line=3)
    outcome = import_rows(db, [old, renewed_row], now + timedelta(days=1))
    assert (outcome.new, outcome.updated, outcome.unchanged) == (0, 1, 1)
    with db.session(read_only=True) as session:
        assert store.count_agreements(session) == 2
    assert lifecycle(db, 1) == (Lifecycle.SUPERSEDED, 2)
    assert lifecycle(db, 2) == (Lifecycle.ACTIVE, None)
    with db.session(read_only=True) as session:
        view = store.get_agreement_view(session, 2)
    assert view is not None and view.effective_until == date(2027, 2, 28)


def test_the_superseded_agreement_gets_no_reminder_after_a_reimport(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    old = row("Alpha University", "AZ", START + timedelta(days=10))
    with open_database(database_url, migrate=True) as db:
        import_rows(db, [old], at_eight(START))
        with db.session() as session:
            store.renew_agreement(
                session,
                1,
                concluded=START,
                effective_until=date(2027, 3, 1),
                until_source=UntilSource.TERM,
                now=at_eight(START),
                actor=ACTOR,
            )
        import_rows(
            db,
            [old, row("Alpha University", "AZ", date(2027, 3, 1), concluded=START, line=3)],
            at_eight(START),
        )
        report = run(config, db, "reminders", START)
    assert report.due == 0
    assert read_outbox(tmp_path / "outbox", set()) == []


@pytest.mark.parametrize(
    ("agreement_id", "concluded", "until", "message"),
    [
        (99, date(2022, 3, 1), date(2027, 3, 1), "no agreement #99"),
        (1, date(2017, 3, 11), date(2027, 3, 1), "must be concluded after agreement #1"),
        (1, date(2016, 1, 1), date(2027, 3, 1), "must be concluded after agreement #1"),
        (1, date(2022, 3, 1), date(2022, 3, 1), "not after its conclusion"),
        (1, date(2022, 3, 1), date(2022, 3, 5), "before agreement #1 it renews"),
        (2, date(2022, 3, 1), date(2027, 3, 1), "#2 is superseded by #3"),
        (3, date(2022, 1, 1), date(2027, 3, 1), "#4 of this partner and programme was concluded"),
    ],
)
def test_a_renewal_the_rules_refuse_writes_nothing(
    db: Database, agreement_id: int, concluded: date, until: date, message: str
) -> None:
    now = at_eight(START)
    import_rows(
        db,
        [
            row("Alpha University", "AZ", START + timedelta(days=10), line=2),
            # Beta: an old agreement (2) and one concluded later but ending sooner (4),
            # both superseded by the current one (3).
            row("Beta University", "AZ", date(2021, 1, 1), concluded=date(2016, 1, 1), line=3),
            row("Beta University", "AZ", date(2026, 1, 1), concluded=date(2021, 1, 1), line=4),
            row("Beta University", "AZ", date(2025, 1, 1), concluded=date(2022, 1, 1), line=5),
        ],
        now,
    )
    with db.session() as session:
        before = store.count_agreements(session)
    with pytest.raises(InputError, match=message), db.session() as session:
        store.renew_agreement(
            session,
            agreement_id,
            concluded=concluded,
            effective_until=until,
            until_source=UntilSource.GIVEN,
            now=now,
            actor=ACTOR,
        )
    with db.session(read_only=True) as session:
        assert store.count_agreements(session) == before
    assert lifecycle(db, 1) == (Lifecycle.ACTIVE, None)


def test_an_amendment_moves_the_date_and_restarts_the_windows(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    with open_database(database_url, migrate=True) as db:
        import_rows(db, [row("Beta University", "AZ", START + timedelta(days=20))], at_eight(START))
        assert decided_on(db, START) == set()
        run(config, db, "reminders", START)
        assert decided_on(db, START) == {(1, 30, AYSE)}
        with db.session() as session:
            amendment = store.amend_agreement(
                session, 1, effective_until=START + timedelta(days=25), now=at_eight(START),
                actor=ACTOR,
            )  # fmt: skip
        assert (amendment.previous_until, amendment.effective_until) == (
            START + timedelta(days=20),
            START + timedelta(days=25),
        )
        # The same day again: the 30-day window of the new date has not been sent.
        run(config, db, "reminders", START + timedelta(days=1))
        assert decided_on(db, START + timedelta(days=1)) == {(1, 30, AYSE)}
        with db.session() as session:
            unchanged = store.amend_agreement(
                session, 1, effective_until=START + timedelta(days=25), now=at_eight(START),
                actor=ACTOR,
            )  # fmt: skip
        assert unchanged.previous_until == unchanged.effective_until
        with pytest.raises(InputError, match="cannot end on"), db.session() as session:
            store.amend_agreement(
                session, 1, effective_until=date(2010, 1, 1), now=at_eight(START), actor=ACTOR
            )
    actions = [action for action, _, _ in history(db, 1)]
    assert actions == ["imported", "amended"]
    assert history(db, 1)[1][2] == "effective until 2022-03-21 -> 2022-03-26"


def test_an_amendment_may_not_hand_the_reminders_to_another_agreement(db: Database) -> None:
    import_rows(
        db,
        [
            row("Beta University", "AZ", date(2021, 6, 1), concluded=date(2016, 1, 1), line=2),
            row("Beta University", "AZ", date(2026, 1, 1), concluded=date(2021, 1, 1), line=3),
        ],
        at_eight(START),
    )
    with pytest.raises(InputError, match="#1 of this partner"), db.session() as session:
        store.amend_agreement(
            session, 2, effective_until=date(2021, 3, 1), now=at_eight(START), actor=ACTOR
        )
    with pytest.raises(InputError, match="#1 is superseded by #2"), db.session() as session:
        store.amend_agreement(
            session, 1, effective_until=date(2030, 1, 1), now=at_eight(START), actor=ACTOR
        )


# --- retire, reinstate, snooze, on every database -----------------------------------------


def test_retire_survives_a_reimport_and_reinstate_undoes_it(db: Database) -> None:
    rows = [row("Gamma University", "GE", START + timedelta(days=9))]
    import_rows(db, rows, at_eight(START))
    with db.session() as session:
        store.retire_agreement(
            session, 1, reason="  Partner closed\nthe programme ", now=at_eight(START), actor=ACTOR
        )
    import_rows(db, rows, at_eight(START) + timedelta(hours=1))
    assert lifecycle(db, 1) == (Lifecycle.RETIRED, None)
    with db.session(read_only=True) as session:
        view = store.get_agreement_view(session, 1)
    assert view is not None and view.retired_reason == "Partner closed the programme"
    with pytest.raises(InputError, match="retired already"), db.session() as session:
        store.retire_agreement(session, 1, reason="again", now=at_eight(START), actor=ACTOR)
    with pytest.raises(InputError, match="--reason"), db.session() as session:
        store.retire_agreement(session, 1, reason=" ", now=at_eight(START), actor=ACTOR)
    with db.session() as session:
        back = store.reinstate_agreement(session, 1, now=at_eight(START), actor=ACTOR)
    assert (back.lifecycle, back.superseded_by_id) == (Lifecycle.ACTIVE, None)
    with db.session(read_only=True) as session:
        view = store.get_agreement_view(session, 1)
    assert view is not None and view.retired_reason is None
    with pytest.raises(InputError, match="not retired"), db.session() as session:
        store.reinstate_agreement(session, 1, now=at_eight(START), actor=ACTOR)
    assert [action for action, _, _ in history(db, 1)] == ["imported", "retired", "reinstated"]
    assert history(db, 1)[1][2] == "Partner closed the programme (was active)"


def test_a_reinstated_agreement_with_a_newer_one_is_superseded(db: Database) -> None:
    import_rows(db, [row("Gamma University", "GE", START + timedelta(days=9))], at_eight(START))
    with db.session() as session:
        store.retire_agreement(session, 1, reason="not renewing", now=at_eight(START), actor=ACTOR)
    # The office changed its mind and signed after all; the table lists the new one.
    import_rows(
        db,
        [row("Gamma University", "GE", date(2027, 3, 1), concluded=START, line=3)],
        at_eight(START),
    )
    with db.session() as session:
        back = store.reinstate_agreement(session, 1, now=at_eight(START), actor=ACTOR)
    assert (back.lifecycle, back.superseded_by_id) == (Lifecycle.SUPERSEDED, 2)


def test_snooze_sets_clears_and_refuses(db: Database) -> None:
    import_rows(db, [row("Epsilon University", "GE", START + timedelta(days=25))], at_eight(START))
    until = START + timedelta(days=22)

    def snooze(value: date | None) -> date | None:
        with db.session() as session:
            return store.snooze_agreement(
                session, 1, until=value, today=START, now=at_eight(START), actor=ACTOR
            )

    assert snooze(until) is None
    assert snooze(until) == until  # the same day again: no second event
    with pytest.raises(InputError, match="not after today"):
        snooze(START)
    assert snooze(None) == until
    assert snooze(None) is None
    assert [(action, details) for action, _, details in history(db, 1)] == [
        ("imported", "from agreements.tsv:2"),
        ("snoozed", "until 2022-03-23"),
        ("snoozed", "snooze cleared (was until 2022-03-23)"),
    ]


# --- escalation and the office summary, on every database --------------------------------


def test_escalation_copies_reminders_at_or_below_the_window_and_notices(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    with open_database(database_url, migrate=True) as db:
        import_rows(
            db,
            [
                row("Alpha University", "AZ", START + timedelta(days=20), line=2),  # 30: Ayşe
                row("Karachi University", "PK", START + timedelta(days=5), line=3),  # 7: Mehmet
                row("Osaka University", "JP", START - timedelta(days=2), line=4),  # notice
            ],
            at_eight(START),
        )
        report = run(config, db, "reminders", START)
        with db.session(read_only=True) as session:
            record = store.agreement_record(session, 2)
    mails = {mail.to: mail for mail in read_outbox(tmp_path / "outbox", set())}
    assert set(mails) == {(AYSE,), (MEHMET,)}
    assert mails[AYSE,].cc == ()
    assert mails[MEHMET,].cc == (HEAD,)
    envelopes = {outcome.recipients for outcome in report.delivery.messages}
    assert envelopes == {(AYSE,), (MEHMET, HEAD)}
    # `show` tells who the reminder went to, the copy included.
    assert record is not None
    skipped, reminder = record.reminders
    # The 30-day window was jumped over (the table came late): recorded, never sent.
    assert (skipped.window, skipped.state, skipped.deliveries) == (30, "skipped", ())
    assert (reminder.window, reminder.recipient, reminder.state) == (7, MEHMET, "sent")
    assert {(d.address, d.state) for d in reminder.deliveries} == {
        (MEHMET, "sent"),
        (HEAD, "sent"),
    }


def test_the_office_summary_goes_out_once_a_week(database_url: str, tmp_path: Path) -> None:
    config = make_config(
        database_url,
        tmp_path,
        digest={"office_summary_to": [f"Office <{OFFICE}>"], "send_when_empty": False},
    )
    monday = date(2022, 3, 7)
    seen: set[Path] = set()
    with open_database(database_url, migrate=True) as db:
        import_rows(
            db,
            [
                row("Alpha University", "AZ", monday + timedelta(days=20), line=2),
                row("Karachi University", "PK", monday + timedelta(days=5), line=3),
                row("Nairobi University", "KE", monday + timedelta(days=12), line=4),  # unrouted
            ],
            at_eight(monday),
        )
        run(config, db, "digest", monday)
        first = read_outbox(tmp_path / "outbox", seen)
        run(config, db, "digest", monday + timedelta(days=2))
        same_week = read_outbox(tmp_path / "outbox", seen)
        run(config, db, "digest", monday + timedelta(days=7))
        next_week = read_outbox(tmp_path / "outbox", seen)
    offices = [mail for mail in first if mail.to == (OFFICE,)]
    assert len(offices) == 1
    office = offices[0]
    assert office.subject.startswith("Office summary 2022-W10: 3 expiring")
    for partner in ("Alpha University", "Karachi University", "Nairobi University"):
        assert partner in office.text
    coordinators = {mail.to for mail in first} - {(OFFICE,)}
    assert coordinators == {(AYSE,), (MEHMET,)}
    assert same_week == []
    assert [mail.subject.split(":")[0] for mail in next_week if mail.to == (OFFICE,)] == [
        "Office summary 2022-W11"
    ]


def test_the_weekly_digest_shows_retired_renewed_and_amended(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    monday = date(2022, 3, 7)
    with open_database(database_url, migrate=True) as db:
        import_rows(
            db,
            [
                row("Alpha University", "AZ", monday + timedelta(days=20), line=2),
                row("Beta University", "AZ", monday + timedelta(days=40), line=3),
                row("Gamma University", "GE", monday + timedelta(days=9), line=4),
            ],
            at_eight(monday - timedelta(days=7)),
        )
        now = at_eight(monday - timedelta(days=2))
        with db.session() as session:
            store.renew_agreement(
                session, 1, concluded=monday - timedelta(days=2), effective_until=date(2027, 3, 5),
                until_source=UntilSource.TERM, now=now, actor=ACTOR,
            )  # fmt: skip
            store.amend_agreement(
                session, 2, effective_until=monday + timedelta(days=300), now=now, actor=ACTOR
            )
            store.retire_agreement(session, 3, reason="Programme closed", now=now, actor=ACTOR)
        context = build_context(config, db)
        (ayse,) = [d for d in plan_weekly(context, monday) if d.recipient.email == AYSE]
    assert [item.agreement.id for item in ayse.retired.items] == [3]
    assert sorted((change.agreement.id, change.action) for change in ayse.changes) == [
        (1, "superseded"),
        (2, "amended"),
        (3, "retired"),
        (4, "renewed"),
    ]
    rendered = context.renderer.weekly(ayse)
    # Plain text is wrapped: compare it with its line breaks as spaces.
    for body in (" ".join(rendered.text.split()), rendered.html.replace("&gt;", ">")):
        assert "Retired: not to be renewed" in body
        assert "Programme closed" in body
        assert "effective until 2022-04-16 -> 2023-01-01" in body


# --- the calendar across runs -------------------------------------------------------------


def test_calendar_uids_hold_across_runs_and_replaced_events_are_cancelled(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path, escalation={})
    until = START + timedelta(days=31)
    seen: set[Path] = set()
    with open_database(database_url, migrate=True) as db:
        import_rows(
            db,
            [
                row("Alpha University", "AZ", until, line=2),
                row("Beta University", "AZ", until + timedelta(days=2), line=3),
            ],
            at_eight(START),
        )
        run(config, db, "reminders", START + timedelta(days=3))  # both at 30 days
        (first,) = read_outbox(tmp_path / "outbox", seen)
        with db.session() as session:
            store.renew_agreement(
                session, 1, concluded=START + timedelta(days=2), effective_until=date(2027, 3, 3),
                until_source=UntilSource.TERM, now=at_eight(START), actor=ACTOR,
            )  # fmt: skip
        run(config, db, "reminders", START + timedelta(days=26))  # Beta at 7 days
        (second,) = read_outbox(tmp_path / "outbox", seen)
        with db.session(read_only=True) as session:
            after_the_date = store.replaced_events(session, AYSE, as_of=until + timedelta(days=1))
    assert first.uids() == {uid(1, until), uid(2, until + timedelta(days=2))}
    assert first.uids(CANCEL_FILE) == set()
    # Beta's event keeps its UID: a calendar updates it instead of adding a copy.
    assert second.uids() == {uid(2, until + timedelta(days=2))}
    # Alpha was renewed: the event of its old end date is cancelled.
    assert second.uids(CANCEL_FILE) == {uid(1, until)}
    cancel = second.calendars[CANCEL_FILE]
    assert str(cancel["METHOD"]) == "CANCEL"
    (event,) = cancel.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"
    assert event.decoded("SEQUENCE") == 1
    # Once the old date has passed, the stale event misleads nobody: no more cancels.
    assert after_the_date == []


# --- a month of daily runs, driven through the command line (SQLite only) ----------------


@pytest.fixture
def reminder_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """Yield a function running `reminder ARGS` in-process; returns (status, out, err).

    The command configures logging for itself; the test's logging is put back after.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def reminder(*args: str) -> tuple[int, str, str]:
        status = main(["--config", str(tmp_path / "config.toml"), *args])
        out, err = capsys.readouterr()
        return status, out, err

    try:
        yield reminder
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def write_config(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'state' / 'reminder.db'}"
    document = config_document(database_url, tmp_path)
    lines = [
        f'timezone = "{document["timezone"]}"',
        "[database]",
        f'url = "{database_url}"',
        "[reminders]",
        "windows = [30, 7]",
        "notify_expired = true",
        "expired_lookback_days = 30",
        "[escalation]",
        "at_window = 7",
        f'cc = ["{HEAD}"]',
        "[mail]",
        'transport = "outbox"',
        f'from = "{SENDER}"',
        f'outbox_dir = "{tmp_path / "outbox"}"',
        "[[coordinators]]",
        'name = "Ayşe Yılmaz"',
        f'email = "{AYSE}"',
        'countries = ["AZ", "GE"]',
    ]
    (tmp_path / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


# What each day of the walk sends to Ayşe: (agreement, window, its end as days after START)
# with 0 for the notice; whether the head of office is copied; the old events (agreement,
# end) the digest's calendar cancels. Days not listed send nothing.
WALK_EXPECTED: dict[int, tuple[set[tuple[int, int, int]], bool, set[tuple[int, int]]]] = {
    0: ({(1, 30, 10), (2, 30, 20), (3, 30, 9)}, False, set()),
    3: ({(3, 7, 9)}, True, {(1, 10), (2, 20)}),
    6: ({(2, 30, 36)}, False, {(1, 10), (2, 20)}),
    10: ({(3, 0, 9)}, True, {(1, 10), (2, 20)}),
    18: ({(4, 7, 25)}, True, {(2, 20)}),
    26: ({(4, 0, 25)}, True, set()),
    29: ({(2, 7, 36)}, True, set()),
}


def test_a_month_of_daily_runs_follows_renew_retire_reinstate_and_snooze(
    tmp_path: Path, reminder_cli: Callable[..., tuple[int, str, str]]
) -> None:
    """Day by day, exactly the reminders the workflow leaves due, and nothing else.

    Alpha (1) is renewed on day 1, Beta (2) amended to a later end on day 1, Gamma (3)
    retired on day 1 and reinstated on day 3, Epsilon (4) snoozed before the first run
    until day 22; Far (5) never comes due.
    """
    write_config(tmp_path)
    table = tmp_path / "agreements.tsv"
    partners = [
        ("Alpha University", "Azerbaijan", 10),
        ("Beta University", "Azerbaijan", 20),
        ("Gamma University", "Georgia", 9),
        ("Epsilon University", "Georgia", 25),
        ("Far University", "Azerbaijan", 400),
    ]
    table.write_text(
        "University\tCountry\tConclusion date\tEffective until\n"
        + "".join(
            f"{name}\t{country}\t{START - timedelta(days=1800):%d.%m.%Y}\t"
            f"{START + timedelta(days=days):%d.%m.%Y}\n"
            for name, country, days in partners
        ),
        encoding="utf-8",
    )
    seen: set[Path] = set()
    sent: dict[int, list[Mail]] = {}
    commands: dict[int, list[tuple[str, ...]]] = {
        0: [("import", str(table)), ("snooze", "4", "--until", str(START + timedelta(days=22)))],
        1: [
            ("renew", "1", "--concluded", str(START + timedelta(days=1))),
            ("renew", "2", "--until", str(START + timedelta(days=36))),
            ("retire", "3", "--reason", "Partner closed the programme"),
        ],
        3: [("reinstate", "3")],
    }
    for offset in range(31):
        day = START + timedelta(days=offset)
        with freeze_time(at_eight(day), real_asyncio=True):
            for command in commands.get(offset, []):
                status, out, err = reminder_cli(*command)
                assert status == 0, (command, out, err)
            status, out, err = reminder_cli("run-once")
            assert status == 0, (day, out, err)
        mails = read_outbox(tmp_path / "outbox", seen)
        if mails:
            sent[offset] = mails

    assert set(sent) == set(WALK_EXPECTED)
    with open_database(f"sqlite:///{tmp_path / 'state' / 'reminder.db'}") as db:
        for offset, (due, copied, cancelled) in WALK_EXPECTED.items():
            (mail,) = sent[offset]
            assert mail.to == (AYSE,), offset
            assert mail.cc == ((HEAD,) if copied else ()), offset
            assert decided_on(db, START + timedelta(days=offset)) == {
                (agreement_id, window, AYSE) for agreement_id, window, _ in due
            }, offset
            # The calendar has the event of each agreement reminded of, at its end then.
            assert mail.uids() == {
                uid(agreement_id, START + timedelta(days=end)) for agreement_id, _, end in due
            }, offset
            assert mail.uids(CANCEL_FILE) == {
                uid(agreement_id, START + timedelta(days=end)) for agreement_id, end in cancelled
            }, offset

    # `show` has the whole story of Gamma: three reminders, who retired and reinstated it.
    status, out, _ = reminder_cli("show", "3", "--json", "--as-of", str(START + timedelta(days=30)))
    assert status == 0
    shown = json.loads(out)
    assert [(r["decided_on"], r["window"], r["state"]) for r in shown["reminders"]] == [
        (str(START), 30, "sent"),
        (str(START + timedelta(days=3)), 7, "sent"),
        (str(START + timedelta(days=10)), 0, "sent"),
    ]
    assert [r["recipients"] for r in shown["reminders"]][1] == [
        {"address": AYSE, "state": "sent", "last_error": None},
        {"address": HEAD, "state": "sent", "last_error": None},
    ]
    user = getpass.getuser()
    assert [(e["action"], e["actor"], e["at"][:10]) for e in shown["history"]] == [
        ("imported", user, str(START)),
        ("retired", user, str(START + timedelta(days=1))),
        ("reinstated", user, str(START + timedelta(days=3))),
    ]
    assert shown["agreement"]["status"] == "expired"
    # Epsilon's 30-day window passed while snoozed: recorded as skipped, never sent.
    status, out, _ = reminder_cli("show", "4", "--json")
    assert [(r["window"], r["state"]) for r in json.loads(out)["reminders"]] == [
        (30, "skipped"),
        (7, "sent"),
        (0, "sent"),
    ]
