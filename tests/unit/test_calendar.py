"""Calendar files: digest attachments and the portfolio export, read back with icalendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from typing import Any

import pytest
from factories import agreement_view
from icalendar import Calendar, Event

from reminder.domain.records import AgreementView
from reminder.domain.reminder_digest import DueItem, Recipient, ReminderDigest, build_digests
from reminder.domain.renewal_rules import ReplacedEvent
from reminder.domain.windows import NOTICE
from reminder.mail.calendar import (
    CALENDAR_FILE_NAME,
    CANCEL_FILE_NAME,
    alarm_windows,
    digest_attachments,
    event_uid,
    portfolio_calendar,
    uid_domain,
)
from reminder.mail.mime import Attachment, RenderedEmail, build_message

SENDER = "Agreement reminders <reminder@example.edu>"
DOMAIN = "reminder.example.edu"
WINDOWS = (180, 90, 30, 7)
TODAY = date(2022, 1, 17)
COORDINATOR = Recipient("ayse.yilmaz@example.edu", "Ayşe Yılmaz")


def agreement(agreement_id: int = 1, **changes: Any) -> AgreementView:
    """Return an exactly dated Mevlana agreement with `changes` applied."""
    return agreement_view(
        agreement_id,
        **{
            "partner": "Azerbaijan State Economic University",
            "programme": "Mevlana",
            "concluded": date(2018, 1, 29),
            "effective_until": date(2022, 3, 1),
            **changes,
        },
    )


def digest_of(*views: AgreementView, as_of: date = TODAY) -> ReminderDigest:
    """Return the digest of `views`, each due at the tightest window it has reached."""

    def item(view: AgreementView) -> DueItem:
        left = (view.effective_until - as_of).days
        window = NOTICE if left < 0 else min(w for w in WINDOWS if left <= w)
        return DueItem(view, window, left)

    (digest,) = build_digests(((COORDINATOR, item(view)) for view in views), as_of)
    return digest


def parse(attachment: Attachment) -> Calendar:
    return Calendar.from_ical(attachment.content)


def events(calendar: Calendar) -> list[Event]:
    return [event for event in calendar.walk("VEVENT") if isinstance(event, Event)]


def event_by_uid(calendar: Calendar) -> dict[str, Event]:
    return {str(event["UID"]): event for event in events(calendar)}


# ---------------------------------------------------------------------------------------
# The digest's calendar


def test_one_all_day_event_per_agreement_on_its_end_date() -> None:
    first = agreement(1, effective_until=date(2022, 3, 1))
    second = agreement(2, partner="Ganja State University", effective_until=date(2022, 1, 20))
    (attachment,) = digest_attachments(digest_of(first, second), organizer=SENDER)

    assert attachment.filename == CALENDAR_FILE_NAME
    assert (attachment.maintype, attachment.subtype) == ("text", "calendar")
    assert attachment.params["method"] == "PUBLISH"
    calendar = parse(attachment)
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["VERSION"]) == "2.0"
    by_uid = event_by_uid(calendar)
    assert set(by_uid) == {
        f"agreement-1-20220301@{DOMAIN}",
        f"agreement-2-20220120@{DOMAIN}",
    }
    event = by_uid[f"agreement-1-20220301@{DOMAIN}"]
    # An all-day event: DATE values (not DATE-TIME), ending (exclusively) the next day.
    assert event.decoded("DTSTART") == date(2022, 3, 1)
    assert not isinstance(event.decoded("DTSTART"), datetime)
    assert event.decoded("DTEND") == date(2022, 3, 2)
    assert event.decoded("DTSTAMP") == datetime(2022, 1, 17, tzinfo=UTC)
    assert event.decoded("SEQUENCE") == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert str(event["ORGANIZER"]) == "mailto:reminder@example.edu"
    assert "Azerbaijan State Economic University" in str(event["SUMMARY"])
    description = str(event["DESCRIPTION"])
    assert "Mevlana" in description
    assert "reminder renew 1 --concluded YYYY-MM-DD" in description


def test_the_uid_depends_on_the_agreement_and_its_date_only() -> None:
    view = agreement(7, effective_until=date(2022, 6, 15))
    early = digest_attachments(digest_of(view, as_of=date(2021, 12, 17)), organizer=SENDER)
    late = digest_attachments(digest_of(view, as_of=date(2022, 5, 16)), organizer=SENDER)
    assert set(event_by_uid(parse(early[0]))) == set(event_by_uid(parse(late[0])))
    moved = view._replace(effective_until=date(2023, 6, 15))
    amended = digest_attachments(digest_of(moved, as_of=date(2023, 1, 2)), organizer=SENDER)
    assert set(event_by_uid(parse(amended[0]))) == {f"agreement-7-20230615@{DOMAIN}"}
    # The same digest gives the same bytes: the message is rendered once, sent as is.
    assert early == digest_attachments(digest_of(view, as_of=date(2021, 12, 17)), organizer=SENDER)


def test_alarms_are_set_at_the_windows_still_ahead() -> None:
    view = agreement(effective_until=TODAY + timedelta(days=100))
    (attachment,) = digest_attachments(digest_of(view), organizer=SENDER, windows=WINDOWS)
    (event,) = events(parse(attachment))
    triggers = sorted(alarm.decoded("TRIGGER") for alarm in event.walk("VALARM"))
    assert triggers == [timedelta(days=-90), timedelta(days=-30), timedelta(days=-7)]
    assert all(str(alarm["ACTION"]) == "DISPLAY" for alarm in event.walk("VALARM"))


@pytest.mark.parametrize(
    ("left", "expected"),
    [(200, (180, 90, 30, 7)), (180, (90, 30, 7)), (31, (30, 7)), (7, ()), (0, ()), (-3, ())],
)
def test_an_alarm_on_or_before_today_is_left_out(left: int, expected: tuple[int, ...]) -> None:
    assert alarm_windows(TODAY + timedelta(days=left), WINDOWS, TODAY) == expected


def test_replaced_events_are_cancelled_in_a_second_file() -> None:
    current = agreement(3, effective_until=date(2022, 2, 1))
    replaced = [
        ReplacedEvent(3, date(2022, 1, 25), "Azerbaijan State Economic University", "Mevlana"),
        ReplacedEvent(2, date(2022, 3, 1), "Ganja State University", "Mevlana"),
    ]
    published, cancelled = digest_attachments(
        digest_of(current), organizer=SENDER, replaced=replaced
    )
    assert published.filename == CALENDAR_FILE_NAME
    assert cancelled.filename == CANCEL_FILE_NAME
    # Outlook acts only when the MIME method and the file's METHOD agree.
    assert cancelled.params["method"] == "CANCEL"
    cancel = parse(cancelled)
    assert str(cancel["METHOD"]) == "CANCEL"
    by_uid = event_by_uid(cancel)
    assert set(by_uid) == {f"agreement-3-20220125@{DOMAIN}", f"agreement-2-20220301@{DOMAIN}"}
    published_sequence = events(parse(published))[0].decoded("SEQUENCE")
    for uid, event in by_uid.items():
        assert str(event["STATUS"]) == "CANCELLED"
        assert event.decoded("SEQUENCE") > published_sequence
        assert str(event["ORGANIZER"]) == "mailto:reminder@example.edu"
        assert str(event["ATTENDEE"]) == f"mailto:{COORDINATOR.email}"
        day = event.decoded("DTSTART")
        assert uid == event_uid(int(uid.split("-")[1]), day, DOMAIN)
    # The current event stays published, under its own date's UID.
    assert set(event_by_uid(parse(published))) == {f"agreement-3-20220201@{DOMAIN}"}


def test_text_is_escaped_and_folded_by_the_library() -> None:
    partner = 'Université; Côte d\'Azur, "Nice" \\ Sophia\nAntipolis ' + "x" * 120
    view = agreement(partner=partner, notes="ignored", programme="Erasmus+, KA171")
    (attachment,) = digest_attachments(digest_of(view), organizer=SENDER)
    lines = attachment.content.split(b"\r\n")
    assert all(len(line) <= 75 for line in lines)
    (event,) = events(parse(attachment))
    summary = str(event["SUMMARY"])
    # The summary is one line: the line break in the name became a space.
    assert "\n" not in summary
    assert 'Université; Côte d\'Azur, "Nice" \\ Sophia Antipolis' in summary
    assert "(Erasmus+, KA171)" in summary
    assert b"\\;" in attachment.content
    assert b"\\," in attachment.content


def test_the_uid_domain_comes_from_the_sender() -> None:
    assert uid_domain(SENDER) == DOMAIN
    assert uid_domain("International Office <IRO+Reminders@Uni.Example.EDU>") == (
        "iro-reminders.uni.example.edu"
    )
    with pytest.raises(ValueError, match="not an e-mail address"):
        uid_domain("nobody")


def test_the_attachments_travel_in_the_message_as_calendar_parts() -> None:
    view = agreement(effective_until=date(2022, 2, 1))
    attachments = digest_attachments(
        digest_of(view),
        organizer=SENDER,
        replaced=[ReplacedEvent(1, date(2022, 1, 30), view.partner, view.programme)],
    )
    message: EmailMessage = build_message(
        RenderedEmail("subject", "text\n", "<p>html</p>"),
        sender=SENDER,
        to=[COORDINATOR],
        reply_to=None,
        message_id="<reminder.test@example.edu>",
        date=datetime(2022, 1, 17, 8, tzinfo=UTC),
        attachments=attachments,
    )
    parsed = message_from_bytes(message.as_bytes(policy=SMTP), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    parts = [
        part for part in parsed.iter_attachments() if part.get_content_type() == "text/calendar"
    ]
    assert [part.get_filename() for part in parts] == [CALENDAR_FILE_NAME, CANCEL_FILE_NAME]
    for part in parts:
        calendar = Calendar.from_ical(part.get_content())
        assert part.get_param("method") == str(calendar["METHOD"])


# ---------------------------------------------------------------------------------------
# The portfolio export


def test_the_export_has_every_agreement_with_its_alarms() -> None:
    views = [
        agreement(1, effective_until=TODAY + timedelta(days=400)),
        agreement(2, partner="Ganja State University", effective_until=TODAY + timedelta(days=45)),
        agreement(3, partner="Lapsed University", effective_until=TODAY - timedelta(days=3)),
    ]
    stamp = datetime(2022, 1, 17, 6, 30, tzinfo=UTC)
    content = portfolio_calendar(views, organizer=SENDER, windows=WINDOWS, today=TODAY, stamp=stamp)
    calendar = Calendar.from_ical(content)
    assert str(calendar["X-WR-CALNAME"]) == "Agreement expiries"
    by_uid = event_by_uid(calendar)
    assert set(by_uid) == {event_uid(view.id, view.effective_until, DOMAIN) for view in views}

    def triggers(view: AgreementView) -> list[str]:
        event = by_uid[event_uid(view.id, view.effective_until, DOMAIN)]
        return [
            alarm.content_line("TRIGGER", alarm["TRIGGER"]).split(":")[1]
            for alarm in event.walk("VALARM")
        ]

    assert triggers(views[0]) == ["-P180D", "-P90D", "-P30D", "-P7D"]
    assert triggers(views[1]) == ["-P30D", "-P7D"]
    assert triggers(views[2]) == []
    assert all(event.decoded("DTSTAMP") == stamp for event in by_uid.values())


def test_the_export_and_the_digest_share_uids() -> None:
    view = agreement(5, effective_until=TODAY + timedelta(days=20))
    exported = portfolio_calendar(
        [view], organizer=SENDER, windows=WINDOWS, today=TODAY, stamp=datetime.now(UTC)
    )
    (attachment,) = digest_attachments(digest_of(view), organizer=SENDER)
    assert set(event_by_uid(Calendar.from_ical(exported))) == set(event_by_uid(parse(attachment)))


def test_the_export_refuses_a_naive_stamp() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        portfolio_calendar(
            [agreement()],
            organizer=SENDER,
            windows=WINDOWS,
            today=TODAY,
            stamp=datetime(2022, 1, 17, 8),
        )
