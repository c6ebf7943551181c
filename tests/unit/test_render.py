"""Rendering digests into e-mails, and building the messages that carry them."""

from __future__ import annotations

import random
import re
import textwrap
from collections.abc import Sequence
from datetime import date, datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from factories import agreement_view as agreement

from reminder.domain.records import AgreementView, CountryMatch, Precision, UntilSource
from reminder.domain.reminder_digest import DueItem, Recipient, ReminderDigest, build_digests
from reminder.domain.weekly_digest import LIST_LIMIT, Change, WeeklyBuilder, WeeklyDigest
from reminder.domain.windows import NOTICE, Status
from reminder.domain.wording import days_in_words
from reminder.errors import TemplateError
from reminder.mail.mime import Attachment, RenderedEmail, build_message
from reminder.mail.render import TEXT_WIDTH, Renderer, packaged_templates_dir, wrap_text

TODAY = date(2024, 3, 4)
ISTANBUL = ZoneInfo("Europe/Istanbul")
# A Turkish name: its dotless i (U+0131) is meant.
COORDINATOR = Recipient("coordinator@example.edu", "Ayşe Yılmaz")


def due(view: AgreementView, window: int) -> DueItem:
    """Return `view` due at `window`, its days left counted from TODAY."""
    return DueItem(view, window, (view.effective_until - TODAY).days)


def digest_of(*items: DueItem, recipient: Recipient = COORDINATOR) -> ReminderDigest:
    """Return the digest the digest builder makes of `items`, most urgent first."""
    (digest,) = build_digests(((recipient, item) for item in items), TODAY)
    return digest


def long_date(day: date) -> str:
    """Return `day` as English mail writes it: "3 April 2024"."""
    return f"{day.day} {day:%B %Y}"


def until_in(days: int) -> date:
    return date.fromordinal(TODAY.toordinal() + days)


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


# ---------------------------------------------------------------------------------------
# Wording


@pytest.mark.parametrize(
    ("days_left", "words"),
    [
        (30, "in 30 days"),
        (2, "in 2 days"),
        (1, "in 1 day"),
        (0, "today"),
        (-1, "expired 1 day ago"),
        (-3, "expired 3 days ago"),
    ],
)
def test_days_in_words(days_left: int, words: str) -> None:
    assert days_in_words(days_left) == words


@pytest.mark.parametrize(
    ("days_left", "others", "subject"),
    [
        (7, 2, "3 agreements to renew: Baku State University expires in 7 days"),
        (0, 0, "1 agreement to renew: Baku State University expires today"),
        (1, 0, "1 agreement to renew: Baku State University expires in 1 day"),
        (-3, 1, "2 agreements to renew: Baku State University expired 3 days ago"),
        (-1, 0, "1 agreement to renew: Baku State University expired 1 day ago"),
    ],
)
def test_reminder_subject_counts_and_names_the_most_urgent(
    renderer: Renderer, days_left: int, others: int, subject: str
) -> None:
    urgent = agreement(effective_until=until_in(days_left))
    window = NOTICE if days_left < 0 else 7
    later = [
        due(agreement(10 + index, partner=f"Partner {index}", effective_until=until_in(40)), 90)
        for index in range(others)
    ]
    rendered = renderer.reminder(digest_of(*later, due(urgent, window)))
    assert rendered.subject == subject


# ---------------------------------------------------------------------------------------
# Reminder content


def test_every_field_of_an_agreement_is_in_text_and_html(renderer: Renderer) -> None:
    view = agreement(
        41,
        partner="Université de Strasbourg",
        country="Fransa",
        country_code="FR",
        country_match=CountryMatch.APPROXIMATE,
        programme="Mevlana exchange",
        notes="Original kept in the rector office",
        concluded=date(2019, 6, 1),
        concluded_precision=Precision.MONTH,
        effective_until=until_in(30),
    )
    rendered = renderer.reminder(digest_of(due(view, 30)))
    expected = [
        "Université de Strasbourg",
        "Fransa",
        "FR, matched approximately",
        "Mevlana exchange",
        "06.2019",  # the conclusion date to the precision the table gave
        long_date(until_in(30)),
        "in 30 days",
        "30-day reminder",
        "Original kept in the rector office",
        "reminder renew 41 --concluded YYYY-MM-DD",
        "reminder renew 41 --until YYYY-MM-DD",
        COORDINATOR.name,
    ]
    for value in expected:
        assert value in rendered.text, value
        assert value in rendered.html, value


def test_the_conclusion_date_is_written_to_its_precision(renderer: Renderer) -> None:
    by_day = agreement(1, concluded=date(2019, 3, 11), concluded_precision=Precision.DAY)
    by_year = agreement(
        2,
        partner="Ankara University",
        concluded=date(2018, 1, 1),
        concluded_precision=Precision.YEAR,
    )
    rendered = renderer.reminder(digest_of(due(by_day, 30), due(by_year, 30)))
    for body in (rendered.text, rendered.html):
        assert "11.03.2019" in body
        assert re.search(r"\b2018\b", body)
        assert "01.01.2018" not in body


def test_an_unrecognised_country_is_said_to_be(renderer: Renderer) -> None:
    view = agreement(country="Atlantis", country_code=None, country_match=CountryMatch.UNKNOWN)
    rendered = renderer.reminder(digest_of(due(view, 30)))
    assert "Atlantis (not recognised)" in rendered.text
    assert "(not recognised)" in rendered.html


def test_approximate_dates_are_marked(renderer: Renderer) -> None:
    exact = agreement(1, partner="Exact University", effective_until=until_in(20))
    approximate = agreement(
        2,
        partner="Approximate University",
        effective_until=until_in(25),
        effective_until_source=UntilSource.YEAR,
        approximate=True,
    )
    rendered = renderer.reminder(digest_of(due(exact, 30), due(approximate, 30)))
    for body in (rendered.text, rendered.html):
        assert f"about {long_date(until_in(25))}" in body
        assert f"about {long_date(until_in(20))}" not in body
        assert long_date(until_in(20)) in body
        assert "only the year in the table" in body


def test_groups_come_by_window_most_urgent_first(renderer: Renderer) -> None:
    items = [
        due(agreement(1, partner="Far Partner", effective_until=until_in(170)), 180),
        due(agreement(2, partner="Lapsed Partner", effective_until=until_in(-2)), NOTICE),
        due(agreement(3, partner="Late Partner", effective_until=until_in(25)), 30),
        due(agreement(4, partner="Soon Partner", effective_until=until_in(5)), 30),
    ]
    rendered = renderer.reminder(digest_of(*items))
    order = [
        "Expiry notice",
        "Lapsed Partner",
        "30-day reminder",
        "Soon Partner",
        "Late Partner",
        "180-day reminder",
        "Far Partner",
    ]
    for body in (rendered.text, rendered.html):
        positions = [body.index(marker) for marker in order]
        assert positions == sorted(positions)


def test_html_escapes_what_plain_text_keeps(renderer: Renderer) -> None:
    view = agreement(partner="<script>alert(1)</script>", notes="Smith & Sons <Ltd>")
    rendered = renderer.reminder(digest_of(due(view, 30)))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script" not in rendered.html.lower()
    assert "Smith &amp; Sons &lt;Ltd&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text
    assert "Smith & Sons <Ltd>" in rendered.text
    assert "<script>alert(1)</script>" in rendered.subject


def test_plain_text_is_wrapped(renderer: Renderer) -> None:
    notes = " ".join(["The rector signed the protocol in the presence of both deans."] * 6)
    rendered = renderer.reminder(digest_of(due(agreement(notes=notes), 30)))
    assert max(len(line) for line in rendered.text.splitlines()) <= TEXT_WIDTH
    assert " ".join(rendered.text.split()).count(notes) == 1


def test_right_to_left_and_very_long_names_render(renderer: Renderer) -> None:
    right_to_left = agreement(1, partner="جامعة القاهرة", country="مصر", country_code="EG")
    long_words = ("Universität " * 42)[:500]
    unbroken = "X" * 500
    rendered = renderer.reminder(
        digest_of(
            due(right_to_left, 7),
            due(agreement(2, partner=long_words), 30),
            due(agreement(3, partner=unbroken), 30),
            recipient=Recipient("coordinator@example.edu", "مريم أحمد"),
        )
    )
    assert len(long_words) == len(unbroken) == 500
    for value in ("جامعة القاهرة", "مصر", "مريم أحمد", unbroken):
        assert value in rendered.text
        assert value in rendered.html
    assert " ".join(rendered.text.split()).count(long_words.strip()) == 1
    assert long_words in rendered.html
    message = _message(rendered)
    parsed = message_from_bytes(message.as_bytes(), policy=default_policy)
    assert parsed["Subject"] == rendered.subject
    assert "جامعة القاهرة" in rendered.subject
    assert all(len(line) <= 998 for line in message.as_bytes().split(b"\r\n"))


# ---------------------------------------------------------------------------------------
# HTML for mail clients


def test_css_is_inlined_and_no_style_block_is_left(renderer: Renderer) -> None:
    rendered = renderer.reminder(digest_of(due(agreement(), 30)))
    weekly = renderer.weekly(_weekly_digest())
    for html in (rendered.html, weekly.html):
        assert "<style" not in html.lower()
        assert re.search(r"<body[^>]*style=\"[^\"]*font-family", html)
        assert re.search(r"<h1[^>]*style=\"", html)


@pytest.mark.parametrize("kind", ["reminder", "weekly"])
def test_html_loads_nothing_from_elsewhere_and_fits_a_phone(renderer: Renderer, kind: str) -> None:
    view = agreement(notes="See http://example.org/protocol.pdf")
    rendered = (
        renderer.reminder(digest_of(due(view, 30)))
        if kind == "reminder"
        else renderer.weekly(_weekly_digest())
    )
    html = rendered.html
    assert not re.search(r"<(img|link|script|iframe|object|embed)\b", html, re.IGNORECASE)
    assert not re.search(r"\b(src|href|background)\s*=\s*[\"']?\s*(https?:)?//", html, re.I)
    assert "url(" not in html
    assert 'name="viewport"' in html
    assert re.search(r"max-width:\s*640px", html)
    # Outside the Outlook-only conditional comment, nothing is wider than a phone.
    outside_comments = re.sub(r"<!--.*?-->", "", html, flags=re.DOTALL)
    fixed_widths = re.findall(r"width=\"(\d+)\"", outside_comments) + re.findall(
        r"(?<![-\w])width:\s*(\d+)px", outside_comments
    )
    assert all(int(width) <= 375 for width in fixed_widths), fixed_widths


# ---------------------------------------------------------------------------------------
# Weekly digest


def _weekly_digest(recipient: Recipient = COORDINATOR) -> WeeklyDigest:
    builder = WeeklyBuilder(recipient, TODAY, largest_window=180)
    builder.add(
        agreement(1, partner="March Partner", effective_until=date(2024, 3, 20)),
        Status.EXPIRING,
        16,
    )
    builder.add(
        agreement(
            2,
            partner="May Partner",
            effective_until=date(2024, 5, 1),
            effective_until_source=UntilSource.TERM,
            approximate=True,
        ),
        Status.EXPIRING,
        58,
    )
    builder.add(
        agreement(3, partner="Lapsed Partner", effective_until=date(2024, 1, 10)),
        Status.EXPIRED,
        -54,
    )
    builder.add(
        agreement(
            4,
            partner="Atlantis Institute",
            country="Atlantis",
            country_code=None,
            country_match=CountryMatch.UNKNOWN,
            effective_until=date(2026, 1, 1),
        ),
        Status.ACTIVE,
        668,
    )
    builder.add(agreement(5, partner="Old Partner"), Status.SUPERSEDED, 7)
    builder.add_unrouted(agreement(6, partner="Unrouted Partner"), 7)
    renewed = agreement(7, partner="Renewed Partner")
    return builder.build((Change(renewed, "renewed", date(2024, 3, 1), "new agreement #8"),))


def test_weekly_shows_counts_months_lapsed_changes_and_warnings(renderer: Renderer) -> None:
    rendered = renderer.weekly(_weekly_digest())
    assert rendered.subject == (
        "Agreements 2024-W10: 2 expiring, 1 lapsed, 1 change, 3 data warnings"
    )
    # Plain text is wrapped: compare it with its line breaks as spaces.
    for body in (" ".join(rendered.text.split()), rendered.html):
        for value in (
            "2024-W10",
            "Expiring within 180 days",
            "March 2024",
            "May 2024",
            "March Partner",
            "May Partner",
            "Lapsed in the last 12 months, not renewed",
            "Lapsed Partner",
            "expired 54 days ago",
            "Changes since the last digest",
            "Renewed Partner",
            "renewed on 1 March 2024",
            "new agreement #8",
            "Approximate dates",
            "about 1 May 2024",
            "Countries not recognised",
            "Atlantis Institute",
            "Not routed to any coordinator",
            "Unrouted Partner",
        ):
            assert value in body, value
        assert body.index("March 2024") < body.index("May 2024")
        assert "Old Partner" not in body
    counts = dict(re.findall(r"^  (\S.*?) {2,}(\d+)$", rendered.text, re.MULTILINE))
    assert counts == {
        "In force beyond 180 days": "1",
        "Expiring within 180 days": "2",
        "Expired": "1",
        "Superseded": "1",
        "Retired": "0",
        "Total": "5",  # the unrouted agreement is listed, not counted
    }


def test_weekly_says_how_many_more_a_section_has(renderer: Renderer) -> None:
    builder = WeeklyBuilder(COORDINATOR, TODAY, largest_window=180)
    for index in range(LIST_LIMIT + 3):
        view = agreement(index + 1, partner=f"Partner {index:03d}", effective_until=until_in(10))
        builder.add(view, Status.EXPIRING, 10)
    rendered = renderer.weekly(builder.build())
    for body in (rendered.text, rendered.html):
        assert "and 3 more" in body
        assert f"Partner {LIST_LIMIT - 1:03d}" in body
        assert f"Partner {LIST_LIMIT:03d}" not in body


def test_an_empty_weekly_says_there_is_nothing_to_renew(renderer: Renderer) -> None:
    builder = WeeklyBuilder(COORDINATOR, TODAY, largest_window=180)
    builder.add(agreement(1, effective_until=date(2027, 1, 1)), Status.ACTIVE, 1033)
    rendered = renderer.weekly(builder.build())
    assert rendered.subject == "Agreements 2024-W10: nothing to renew (1 agreement)"
    assert "Nothing needs your attention this week" in rendered.text
    assert "Nothing needs your attention this week" in rendered.html


# ---------------------------------------------------------------------------------------
# Templates: overrides and errors


def test_a_templates_dir_overrides_file_by_file(renderer: Renderer, tmp_path: Path) -> None:
    (tmp_path / "reminder-subject.txt").write_text(
        "Renew {{ digest.items|length }} for {{ digest.recipient.name }}\n", encoding="utf-8"
    )
    digest = digest_of(due(agreement(), 30))
    overridden = Renderer(tmp_path).reminder(digest)
    packaged = renderer.reminder(digest)
    assert overridden.subject == f"Renew 1 for {COORDINATOR.name}"
    assert packaged.subject != overridden.subject
    assert overridden.text == packaged.text
    assert overridden.html == packaged.html
    assert Renderer(tmp_path).search_path == (tmp_path, packaged_templates_dir())


def test_a_templates_dir_overrides_per_language(tmp_path: Path) -> None:
    """templates_dir/tr/ serves Turkish readers; templates_dir/ everyone else; an override
    written with _() is translated like the packaged templates."""
    (tmp_path / "tr").mkdir()
    (tmp_path / "tr" / "reminder-subject.txt").write_text(
        "Yenileme: {{ digest.items|length }}\n", encoding="utf-8"
    )
    (tmp_path / "reminder-subject.txt").write_text(
        '[Office] {{ _("Dear %(name)s,", name=digest.recipient.name) }}\n', encoding="utf-8"
    )
    (tmp_path / "base.txt").write_text(
        '{% block content %}{% endblock %}\n{{ _("Total") }}\n', encoding="utf-8"
    )
    renderer = Renderer(tmp_path, ("en", "tr"))
    english = renderer.reminder(digest_of(due(agreement(), 30)))
    turkish_reader = Recipient("koordinator@example.edu", "Ayşe", "tr")
    turkish = renderer.reminder(digest_of(due(agreement(), 30), recipient=turkish_reader))
    assert english.subject == f"[Office] Dear {COORDINATOR.name},"
    assert turkish.subject == "Yenileme: 1"
    # The Turkish reader's body extends the folder's base.txt, translated.
    assert english.text.rstrip().endswith("Total")
    assert turkish.text.rstrip().endswith("Toplam")
    assert "Sayın Ayşe," in turkish.text
    assert renderer.search_path_of("tr") == (tmp_path / "tr", tmp_path, packaged_templates_dir())


def test_a_broken_override_for_one_language_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "tr").mkdir()
    (tmp_path / "tr" / "weekly-subject.txt").write_text("{{ digest.itmes }}\n", "utf-8")
    renderer = Renderer(tmp_path, ("en", "tr"))
    digest = _weekly_digest(Recipient("koordinator@example.edu", "", "tr"))
    with pytest.raises(TemplateError) as raised:
        renderer.weekly(digest)
    assert str(raised.value).startswith(f"{tmp_path / 'tr' / 'weekly-subject.txt'}:1: ")


def test_a_language_without_a_catalog_is_an_error() -> None:
    with pytest.raises(TemplateError, match="'xx' catalog cannot be read"):
        Renderer(None, ("en", "xx"))


def test_a_missing_templates_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no such folder"):
        Renderer(tmp_path / "nowhere")


def test_a_syntax_error_names_the_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "reminder-body.html").write_text(
        '{% extends "base.html" %}\n{% block content %}\n{% if %}\n{% endblock %}\n',
        encoding="utf-8",
    )
    with pytest.raises(TemplateError) as raised:
        Renderer(tmp_path)
    assert "reminder-body.html:3: " in str(raised.value)


def test_an_undefined_variable_names_the_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "reminder-body.txt").write_text(
        "Hello {{ digest.recipient.name }}\n{{ foo }}\n", encoding="utf-8"
    )
    renderer = Renderer(tmp_path)
    with pytest.raises(TemplateError) as raised:
        renderer.reminder(digest_of(due(agreement(), 30)))
    assert "reminder-body.txt:2: 'foo' is undefined" in str(raised.value)


def test_an_error_in_an_included_template_names_that_template(tmp_path: Path) -> None:
    packaged_macros = (packaged_templates_dir() / "macros.txt").read_text(encoding="utf-8")
    # Joining an undefined value to a string fails on the line that does it.
    broken = packaged_macros.replace("agreement.partner ~", "agreement.partnr ~", 1)
    assert broken != packaged_macros
    (tmp_path / "macros.txt").write_text(broken, encoding="utf-8")
    line = broken[: broken.index("agreement.partnr")].count("\n") + 1
    with pytest.raises(TemplateError) as raised:
        Renderer(tmp_path).reminder(digest_of(due(agreement(), 30)))
    assert str(raised.value).startswith(f"{tmp_path / 'macros.txt'}:{line}: ")
    assert "partnr" in str(raised.value)


# ---------------------------------------------------------------------------------------
# The message


SENDER = "Agreement reminders <reminder@example.edu>"
SENT_AT = datetime(2024, 3, 4, 8, 0, tzinfo=ISTANBUL)


def _message(
    rendered: RenderedEmail,
    to: tuple[Recipient, ...] = (COORDINATOR,),
    cc: tuple[str, ...] = (),
    attachments: tuple[Attachment, ...] = (),
) -> EmailMessage:
    return build_message(
        rendered,
        sender=SENDER,
        to=to,
        cc=cc,
        reply_to="international@example.edu",
        message_id="<reminder.41.30.20240311@example.edu>",
        date=SENT_AT,
        attachments=attachments,
    )


def _header_names(raw: bytes) -> list[str]:
    """Return the names of the top-level header lines of a raw message, unfolded."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return [
        line.split(b":", 1)[0].decode().lower()
        for line in head.split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t")
    ]


def test_message_headers_and_parts(renderer: Renderer) -> None:
    rendered = renderer.reminder(digest_of(due(agreement(), 30)))
    raw = _message(rendered, cc=("Head of office <head@example.edu>",)).as_bytes()
    parsed = message_from_bytes(raw, policy=default_policy)
    assert sorted(_header_names(raw)) == sorted(
        [
            "from",
            "to",
            "cc",
            "reply-to",
            "subject",
            "date",
            "message-id",
            "auto-submitted",
            "x-auto-response-suppress",
            "mime-version",
            "content-type",
        ]
    )
    assert parsed["From"].addresses == (
        Address("Agreement reminders", addr_spec="reminder@example.edu"),
    )
    assert parsed["To"].addresses == (Address(COORDINATOR.name, addr_spec=COORDINATOR.email),)
    assert parsed["Reply-To"].addresses[0].addr_spec == "international@example.edu"
    assert parsed["Subject"] == rendered.subject
    assert parsed["Date"] == format_datetime(SENT_AT)
    assert parsed["Date"].datetime == SENT_AT
    assert parsed["Date"].endswith("+0300")
    assert parsed["Message-ID"] == "<reminder.41.30.20240311@example.edu>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    plain, html = parsed.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert isinstance(plain, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == rendered.html.rstrip("\n")


def test_attachments_make_the_message_mixed(renderer: Renderer) -> None:
    rendered = renderer.reminder(digest_of(due(agreement(), 30)))
    calendar = Attachment(
        "renewal.ics",
        b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        "text",
        "calendar",
        {"method": "PUBLISH"},
    )
    parsed = message_from_bytes(
        _message(rendered, attachments=(calendar,)).as_bytes(), policy=default_policy
    )
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/mixed"
    body, attached = parsed.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert attached.get_content_type() == "text/calendar"
    assert attached.get_param("method") == "PUBLISH"
    assert attached.get_filename() == "renewal.ics"
    assert attached.get_payload(decode=True) == calendar.content


def test_no_name_can_add_a_header_or_a_recipient(renderer: Renderer) -> None:
    partner = "Evil University\r\nBcc: victim@example.org\r\n\r\n<html>"
    view = agreement(partner=partner)
    to = (
        Recipient("coordinator@example.edu", "Coordinator\r\nBcc: thief@example.org"),
        Recipient("second@example.edu", "Second\nCc: other@example.org\x00\x1b\u2028X"),
    )
    rendered = renderer.reminder(digest_of(due(view, 30), recipient=to[0]))
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    message = _message(rendered, to=to, cc=("Head <head@example.edu>",))
    raw = message.as_bytes()
    assert sorted(set(_header_names(raw))) == sorted(_header_names(raw))
    assert "bcc" not in _header_names(raw)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\rBcc:" not in head
    parsed = message_from_bytes(raw, policy=default_policy)
    assert [address.addr_spec for address in parsed["To"].addresses] == [
        "coordinator@example.edu",
        "second@example.edu",
    ]
    assert [address.display_name for address in parsed["To"].addresses] == [
        "Coordinator Bcc: thief@example.org",
        "Second Cc: other@example.org X",
    ]
    assert [address.addr_spec for address in parsed["Cc"].addresses] == ["head@example.edu"]
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == (
        "1 agreement to renew: Evil University Bcc: victim@example.org <html> expires in 7 days"
    )


@pytest.mark.parametrize(
    "address",
    ["coordinator@example.edu\r\nBcc: thief@example.org", "two@example.edu, three@example.edu"],
)
def test_an_address_that_would_add_a_recipient_is_refused(renderer: Renderer, address: str) -> None:
    rendered = renderer.reminder(digest_of(due(agreement(), 30)))
    with pytest.raises(ValueError, match="address"):
        _message(rendered, cc=(address,))
    with pytest.raises(ValueError, match="address"):
        _message(rendered, to=(Recipient(address),))


def test_a_naive_date_is_refused(renderer: Renderer) -> None:
    rendered = renderer.reminder(digest_of(due(agreement(), 30)))
    with pytest.raises(ValueError, match="timezone"):
        build_message(
            rendered,
            sender=SENDER,
            to=(COORDINATOR,),
            reply_to=None,
            message_id="<a@example.edu>",
            date=datetime(2024, 3, 4, 8, 0),
        )


@pytest.mark.parametrize("message_id", ["a@example.edu", "<a@example.edu>\r\nBcc: x@y.z", "<a>"])
def test_a_malformed_message_id_is_refused(renderer: Renderer, message_id: str) -> None:
    rendered = renderer.reminder(digest_of(due(agreement(), 30)))
    with pytest.raises(ValueError, match="Message-ID"):
        build_message(
            rendered,
            sender=SENDER,
            to=(COORDINATOR,),
            reply_to=None,
            message_id=message_id,
            date=SENT_AT,
        )


# ---------------------------------------------------------------------------------------
# Wrapping


def _random_texts(pieces: Sequence[str], count: int, longest: int) -> list[str]:
    chooser = random.Random(20250303)
    return [
        "".join(chooser.choice(pieces) for _ in range(chooser.randint(0, longest)))
        for _ in range(count)
    ]


def test_wrapping_is_textwraps() -> None:
    pieces = ["a", "b", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "-", "x" * 30, "é", "\r"]
    pieces += ["\x0b", "\x1c", "\x85", "\u3000"]
    for text in _random_texts(pieces, 5000, 12):
        for indent, width in ((0, 76), (20, 76), (4, 20)):
            expected = textwrap.fill(
                text,
                width=width,
                subsequent_indent=" " * indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            assert wrap_text(text, indent, width) == expected, (text, indent, width)
