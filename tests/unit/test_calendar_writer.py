"""The fast calendar writer gives the bytes icalendar gives, event by event."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import pytest
from factories import agreement_view
from icalendar import Calendar, Event, vText

from reminder.domain.records import AgreementView, CountryMatch, Precision, UntilSource
from reminder.domain.reminder_digest import DueItem, Recipient, build_digests
from reminder.mail import calendar as calendar_ics
from reminder.mail.calendar import (
    digest_attachments,
    portfolio_calendar,
    published_calendar_by_library,
    uid_domain,
)

SENDER = "Agreement reminders <reminder@example.edu>"
WINDOWS = (180, 90, 30, 7)
TODAY = date(2022, 1, 17)
STAMP = datetime(2022, 1, 17, tzinfo=UTC)


def varied_agreements() -> list[AgreementView]:
    """Return agreements with every kind of date, country match and awkward text:
    escapes, multi-byte letters and backslashes or carets where lines fold."""
    names = [
        "Baku State University",
        'Université; Côte d\'Azur, "Nice" \\ Sophia\nAntipolis ' + "x" * 120,
        "جامعة القاهرة " * 9,
        "北京大学" * 30,
        "Ünİversİtesİ " * 12 + "😀" * 20,
        "\\" * 150,
        "^" * 150,
        "a" * 47 + "\\,;" * 40,
    ]
    chooser = random.Random(17)
    views = []
    for index, name in enumerate(names * 3):
        views.append(
            agreement_view(
                index + 1,
                partner=name[: 40 + chooser.randint(0, len(name))] + "x" * chooser.randint(0, 80),
                country=chooser.choice(["Azerbaijan", "Türkiye", "Atlantis", "Côte d'Ivoire"]),
                country_code=chooser.choice(["AZ", "TR", None]),
                country_match=chooser.choice(list(CountryMatch)),
                programme=chooser.choice(["Mevlana", "Erasmus+, KA171", "Farabi; 2022"]),
                concluded_precision=chooser.choice(list(Precision)),
                effective_until=TODAY + timedelta(days=chooser.randint(-40, 400)),
                effective_until_source=chooser.choice(list(UntilSource)),
                approximate=chooser.random() < 0.3,
            )
        )
    return views


def alarms(view: AgreementView) -> tuple[int, ...]:
    return calendar_ics.alarm_windows(view.effective_until, WINDOWS, TODAY)


@pytest.mark.parametrize(
    "organizer",
    [
        SENDER,
        "reminder@example.edu",
        '"Office, International" <iro+reminders@uni.example.edu>',
        "Uluslararası İlişkiler <iro@example.edu.tr>",  # noqa: RUF001
    ],
)
def test_the_digest_calendar_is_icalendars(organizer: str) -> None:
    views = varied_agreements()
    due = [DueItem(view, 30, (view.effective_until - TODAY).days) for view in views]
    (digest,) = build_digests(((Recipient("a@example.edu"), item) for item in due), TODAY)
    (attachment,) = digest_attachments(digest, organizer=organizer, windows=WINDOWS)
    expected = published_calendar_by_library(
        [(item.agreement, alarms(item.agreement)) for item in digest.items],
        domain=uid_domain(organizer),
        organizer=organizer,
        stamp=datetime.combine(TODAY, time(), tzinfo=UTC),
        name=None,
    )
    assert attachment.content == expected
    calendar = Calendar.from_ical(attachment.content)
    assert len(calendar.walk("VEVENT")) == len(views)
    assert len(calendar.walk("VALARM")) == sum(len(alarms(view)) for view in views)


def test_the_export_is_icalendars() -> None:
    views = varied_agreements()
    content = portfolio_calendar(views, organizer=SENDER, windows=WINDOWS, today=TODAY, stamp=STAMP)
    expected = published_calendar_by_library(
        [(view, alarms(view)) for view in views],
        domain=uid_domain(SENDER),
        organizer=SENDER,
        stamp=STAMP,
        name=calendar_ics.CALENDAR_NAME,
    )
    assert content == expected


def test_an_organizer_that_looks_like_a_stand_in_gets_the_library_path() -> None:
    # The stand-in for the start date is the year 1's first day, written 00010101.
    organizer = "Reminders <r00010101@example.edu>"
    calendar_ics._event_template.cache_clear()
    assert calendar_ics._event_template(organizer, STAMP) is None
    views = varied_agreements()[:3]
    content = portfolio_calendar(
        views, organizer=organizer, windows=WINDOWS, today=TODAY, stamp=STAMP
    )
    expected = published_calendar_by_library(
        [(view, alarms(view)) for view in views],
        domain=uid_domain(organizer),
        organizer=organizer,
        stamp=STAMP,
        name=calendar_ics.CALENDAR_NAME,
    )
    assert content == expected


def _texts(pieces: Sequence[str], count: int) -> list[str]:
    chooser = random.Random(5545)
    return [
        "".join(chooser.choice(pieces) for _ in range(chooser.randint(0, 60))) for _ in range(count)
    ]


def test_lines_fold_as_icalendar_folds_them() -> None:
    pieces = ["a", " ", "\\", "^", "\n", "é", "ı", "€", "😀", "北", "x" * 20, ","]  # noqa: RUF001
    for text in _texts(pieces, 3000):
        event = Event()
        event.add("description", text)
        expected = bytes(event.to_ical()).removeprefix(b"BEGIN:VEVENT\r\n")
        written = calendar_ics._fold("DESCRIPTION:" + calendar_ics._text(text))
        assert written + b"END:VEVENT\r\n" == expected, text


def test_text_is_escaped_as_icalendar_escapes_it() -> None:
    pieces = ["a", " ", "\\", "\\N", ";", ",", "\r\n", "\n", "\r", "é", ":", '"']
    for text in _texts(pieces, 3000):
        assert calendar_ics._text(text) == vText(text).to_ical().decode("utf-8"), text
