"""Calendar files (RFC 5545) of agreement end dates: digest attachments and the export.

Each agreement is one all-day event on its effective-until date. Its UID depends on
the agreement and that date only ("agreement-12-20230101@reminder.example.edu"), so a
calendar that imports the same event again, from a later digest or an export,
updates it instead of adding a copy. The right-hand side is made of the sender
address ([mail] from): unique to the installation and stable while the sender is.

What mail clients do with an attached .ics decides the shape (iTIP, RFC 5546):
- A METHOD:PUBLISH file is offered for adding to the calendar, no reply asked; an
  event imported again with the same UID and a SEQUENCE no lower replaces the one
  held. Every published event has SEQUENCE 0.
- Outlook acts on a cancellation only when the part's MIME `method` parameter and
  the file's METHOD are both CANCEL, and one file has one METHOD. So the events a
  renewal or an amendment replaced go in a second attachment, METHOD:CANCEL, with
  STATUS:CANCELLED and SEQUENCE 1 (higher than the published 0), the ORGANIZER of
  the published event and the recipient as ATTENDEE, as RFC 5546 asks of a CANCEL
  (clients match the organizer before they remove anything). A client that ignores
  it keeps a stale entry, nothing worse.

The only module that imports icalendar: every calendar is built from its components
and written by its `to_ical()`, so escaping, the value formats, the order of the lines
and their folding are the library's, not ours.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from reminder.domain.dates import days_left
from reminder.domain.records import AgreementView
from reminder.domain.reminder_digest import ReminderDigest
from reminder.domain.renewal_rules import ReplacedEvent
from reminder.domain.wording import Wording
from reminder.mail.i18n import wording
from reminder.mail.mime import Attachment, parse_address, single_line

PRODUCT_ID = "-//reminder//Agreement expiry reminders//EN"
#: The attachment with the current events, and the one cancelling replaced events.
CALENDAR_FILE_NAME = "agreements.ics"
CANCEL_FILE_NAME = "agreements-cancelled.ics"
#: SEQUENCE of published events, and of the cancellation that replaces them.
PUBLISHED_SEQUENCE = 0
CANCELLED_SEQUENCE = 1

_UID_UNSAFE = re.compile(r"[^a-z0-9.-]+")


@functools.lru_cache(maxsize=16)
def uid_domain(organizer: str) -> str:
    """Return the right-hand side of the UIDs for the sender address `organizer`.

    "Agreement reminders <reminder@example.edu>" gives "reminder.example.edu": the
    local part keeps two installations that share a mail domain apart.

    Raises ValueError when `organizer` is not one e-mail address.
    """
    address = parse_address(organizer)
    text = f"{address.username}.{address.domain}".lower()
    return _UID_UNSAFE.sub("-", text).strip(".-") or "reminder"


def event_uid(agreement_id: int, effective_until: date, domain: str) -> str:
    """Return the UID of agreement `agreement_id`'s event on `effective_until`."""
    return f"agreement-{agreement_id}-{effective_until:%Y%m%d}@{domain}"


def digest_attachments(
    digest: ReminderDigest,
    *,
    organizer: str,
    windows: Sequence[int] = (),
    replaced: Sequence[ReplacedEvent] = (),
) -> list[Attachment]:
    """Return the calendar attachments of one reminder digest.

    The first, METHOD:PUBLISH, holds one event per agreement of the digest, the same
    event `portfolio_calendar` gives (alarms at the `windows` still ahead). The second,
    only when `replaced` is not empty, cancels those earlier events. `organizer` is
    the sender address ([mail] from). DTSTAMP is the digest day at midnight UTC, so
    the same digest always gives the same bytes. The texts are in the recipient's
    language.

    Raises ValueError when `organizer` is not an e-mail address, TemplateError when
    the recipient's language has no readable catalog.
    """
    words = wording(digest.recipient.language)
    domain = uid_domain(organizer)
    stamp = datetime.combine(digest.as_of, time(), tzinfo=UTC)
    content = _published_calendar(
        (
            (item.agreement, alarm_windows(item.agreement.effective_until, windows, digest.as_of))
            for item in digest.items
        ),
        domain=domain,
        organizer=organizer,
        stamp=stamp,
        name=None,
        words=words,
    )
    attachments = [_attachment(CALENDAR_FILE_NAME, content, "PUBLISH")]
    if replaced:
        cancel = _calendar("CANCEL")
        for event in replaced:
            cancel.add_component(
                _cancelled_event(
                    event,
                    domain=domain,
                    organizer=organizer,
                    attendee=digest.recipient.email,
                    stamp=stamp,
                    words=words,
                )
            )
        attachments.append(_attachment(CANCEL_FILE_NAME, bytes(cancel.to_ical()), "CANCEL"))
    return attachments


def portfolio_calendar(
    agreements: Iterable[AgreementView],
    *,
    organizer: str,
    windows: Sequence[int],
    today: date,
    stamp: datetime,
    language: str = "en",
) -> bytes:
    """Return a calendar file (METHOD:PUBLISH) with one event per agreement.

    Each event has an alarm at each of `windows` (days before the end) still ahead
    of `today` (see `alarm_windows`). `stamp` is the DTSTAMP, an aware datetime. The
    texts are in `language`.

    Raises ValueError when `organizer` is not an e-mail address or `stamp` is naive,
    TemplateError when `language` has no readable catalog.
    """
    words = wording(language)
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError("the calendar's DTSTAMP needs a timezone-aware datetime")
    return _published_calendar(
        (
            (agreement, alarm_windows(agreement.effective_until, windows, today))
            for agreement in agreements
        ),
        domain=uid_domain(organizer),
        organizer=organizer,
        stamp=stamp.astimezone(UTC),
        name=words.words.gettext("Agreement expiries"),
        words=words,
    )


def alarm_windows(effective_until: date, windows: Sequence[int], today: date) -> tuple[int, ...]:
    """Return the windows, largest first, whose alarm is after `today`.

    An alarm fires at the start of the day `window` days before the end; one on or
    before `today` has passed, and a calendar would raise all of those at once on
    import.
    """
    left = days_left(effective_until, today)
    return tuple(window for window in sorted(set(windows), reverse=True) if window < left)


def _calendar(method: str, name: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    if name is not None:
        calendar.add("x-wr-calname", name)
    return calendar


def _published_calendar(
    events: Iterable[tuple[AgreementView, Sequence[int]]],
    *,
    domain: str,
    organizer: str,
    stamp: datetime,
    name: str | None,
    words: Wording,
) -> bytes:
    """Return the METHOD:PUBLISH calendar of `events` (agreements with their alarm
    windows), written by icalendar."""
    calendar = _calendar("PUBLISH", name)
    for agreement, windows in events:
        calendar.add_component(
            _event(
                event_uid(agreement.id, agreement.effective_until, domain),
                _summary(agreement, words),
                _description(agreement, words),
                agreement.effective_until,
                organizer=organizer,
                stamp=stamp,
                alarm_windows=windows,
                words=words,
            )
        )
    return bytes(calendar.to_ical())


def _event(
    uid: str,
    summary: str,
    description: str,
    day: date,
    *,
    organizer: str,
    stamp: datetime,
    alarm_windows: Sequence[int],
    words: Wording,
) -> Event:
    """Return the all-day event on `day`, with alarms `alarm_windows` days before."""
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("sequence", PUBLISHED_SEQUENCE)
    event.add("status", "CONFIRMED")
    event.add("summary", summary)
    event.add("description", description)
    event.add("dtstart", day)
    # DTEND of an all-day event is exclusive: the next day.
    event.add("dtend", day + timedelta(days=1))
    # A deadline, not a meeting: it must not make anyone look busy.
    event.add("transp", "TRANSPARENT")
    event.add("categories", [words.words.gettext("Agreement expiry")])
    event.add("organizer", _calendar_address(organizer))
    for window in alarm_windows:
        event.add_component(_alarm(summary, window, words))
    return event


def _alarm(summary: str, window: int, words: Wording) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"{summary}: {words.days_in_words(window)}")
    # Relative to the start of the all-day event, i.e. the end date.
    alarm.add("trigger", timedelta(days=-window))
    return alarm


def _cancelled_event(
    replaced: ReplacedEvent,
    *,
    domain: str,
    organizer: str,
    attendee: str,
    stamp: datetime,
    words: Wording,
) -> Event:
    gettext = words.words.gettext
    event = Event()
    event.add("uid", event_uid(replaced.agreement_id, replaced.effective_until, domain))
    event.add("dtstamp", stamp)
    event.add("sequence", CANCELLED_SEQUENCE)
    event.add("status", "CANCELLED")
    summary = gettext("Agreement ends: %(partner)s (%(programme)s)")
    event.add(
        "summary",
        single_line(summary % {"partner": replaced.partner, "programme": replaced.programme}),
    )
    description = gettext(
        "Agreement #%(id)d no longer ends on %(date)s: it was renewed or its end date changed."
    )
    event.add(
        "description",
        description
        % {"id": replaced.agreement_id, "date": words.long_date(replaced.effective_until)},
    )
    event.add("dtstart", replaced.effective_until)
    event.add("dtend", replaced.effective_until + timedelta(days=1))
    event.add("organizer", _calendar_address(organizer))
    event.add("attendee", _calendar_address(attendee))
    return event


def _summary(agreement: AgreementView, words: Wording) -> str:
    gettext = words.words.gettext
    if agreement.approximate:
        text = gettext("Agreement ends: %(partner)s (%(programme)s) (approximate date)")
    else:
        text = gettext("Agreement ends: %(partner)s (%(programme)s)")
    return single_line(text % {"partner": agreement.partner, "programme": agreement.programme})


def _description(agreement: AgreementView, words: Wording) -> str:
    # gettext is called outside the f-strings: message extraction cannot see into them.
    gettext = words.words.gettext
    labelled = [
        (gettext("Partner:"), single_line(agreement.partner)),
        (
            gettext("Country:"),
            f"{single_line(agreement.country)} {words.country_note(agreement)}",
        ),
        (gettext("Programme:"), single_line(agreement.programme)),
        (gettext("Concluded:"), words.concluded(agreement)),
        (gettext("Effective until:"), words.until(agreement)),
    ]
    lines = [f"{label} {value}" for label, value in labelled]
    basis = words.until_basis(agreement)
    if basis:
        lines.append(f"({basis})")
    renewed, not_renewing = gettext("If renewed:"), gettext("If not renewing:")
    lines += [
        gettext("Agreement #%(id)d.") % {"id": agreement.id},
        f"{renewed} reminder renew {agreement.id} --concluded YYYY-MM-DD",
        f"{not_renewing} reminder retire {agreement.id} --reason TEXT",
    ]
    return "\n".join(lines)


def _calendar_address(text: str) -> vCalAddress:
    """Return "Name <user@host>" as a CAL-ADDRESS ("mailto:user@host" with its CN)."""
    address = parse_address(text)
    value = vCalAddress(f"mailto:{address.addr_spec}")
    if address.display_name:
        value.params["cn"] = vText(address.display_name)
    return value


def _attachment(filename: str, content: bytes, method: str) -> Attachment:
    # The MIME method must match the file's METHOD, or Outlook ignores the part.
    return Attachment(
        filename=filename,
        content=content,
        maintype="text",
        subtype="calendar",
        params={"method": method, "charset": "UTF-8"},
    )
