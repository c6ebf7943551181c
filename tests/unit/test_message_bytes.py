"""The fast message writer gives the bytes the email package gives, boundaries aside."""

from __future__ import annotations

import random
import re
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, quoprimime
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reminder.domain.reminder_digest import Recipient
from reminder.mail.mime import (
    Attachment,
    RenderedEmail,
    build_message,
    message_bytes,
    quoted_printable,
)
from reminder.mail.render import wrap_text

SENDER = "Agreement reminders <reminder@example.edu>"
SENT_AT = datetime(2024, 3, 4, 8, 0, tzinfo=ZoneInfo("Europe/Istanbul"))
COORDINATOR = Recipient("coordinator@example.edu", "Ayşe Yılmaz")  # noqa: RUF001
CALENDAR = Attachment(
    "agreements.ics",
    b"BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\n" + b"X" * 300 + b"\r\nEND:VCALENDAR\r\n",
    "text",
    "calendar",
    {"method": "PUBLISH", "charset": "UTF-8"},
)
_BOUNDARY = re.compile(rb"={15}\d{19}==(?:\.\d+)?")


def _normalised(raw: bytes) -> bytes:
    """Return `raw` with its MIME boundaries numbered in order of appearance."""
    seen: dict[bytes, bytes] = {}
    return _BOUNDARY.sub(lambda match: seen.setdefault(match[0], b"B%d" % len(seen)), raw)


def _both(rendered: RenderedEmail, **changes: Any) -> tuple[bytes, bytes]:
    """Return what build_message + as_bytes and message_bytes give for the same call."""
    arguments: dict[str, Any] = {
        "sender": SENDER,
        "to": (COORDINATOR,),
        "cc": (),
        "reply_to": "international@example.edu",
        "message_id": "<reminder.0b26e225062cd96129da0a3396bbd4bf@example.edu>",
        "date": SENT_AT,
        "attachments": (),
    }
    arguments.update(changes)
    expected = build_message(rendered, **arguments).as_bytes(policy=SMTP)
    return _normalised(expected), _normalised(message_bytes(rendered, **arguments))


HTML = '<p style="color: #1f2933;">' + "Gödel &amp; Escher; " * 12 + "</p>\n" * 14
LONG_ARABIC = "جامعة القاهرة " * 30 + "\n"

CASES: list[tuple[str, RenderedEmail, dict[str, Any]]] = [
    ("plain", RenderedEmail("1 agreement to renew", "Hello,\n", "<p>Hello</p>\n"), {}),
    (
        "non-ASCII subject, long lines, attachment",
        RenderedEmail(
            "12 agreements to renew: Andorra Üniversitesi No. 56653 expired 20 days ago",
            "Hello Ayşe,\n\nAndorra Üniversitesi\n",
            HTML,
        ),
        {"attachments": (CALENDAR,)},
    ),
    (
        "long ASCII subject, copies, no reply-to",
        RenderedEmail("x " * 60, "a" * 200 + "\n", "<p>" + "b" * 500 + "</p>"),
        {
            "cc": ("Head of office <head@example.edu>", "deputy@example.edu"),
            "reply_to": None,
        },
    ),
    (
        "encoded-word look-alike and specials in the subject",
        RenderedEmail('=?utf-8?q?x?= (1) "two" <three> \\ ;', "", ""),
        {"to": (Recipient("plain@example.edu"), Recipient("b@example.edu", "Smith, John"))},
    ),
    (
        "a header break attempt in every name",
        RenderedEmail("Evil\r\nBcc: victim@example.org", "text\r\nmore\rend", "<p>x</p>"),
        {
            "to": (
                Recipient("coordinator@example.edu", "Coordinator\r\nBcc: thief@example.org"),
                Recipient("second@example.edu", "Second\nCc: other@example.org\x00\x1b\u2028X"),
            ),
            "cc": ("Head <head@example.edu>",),
        },
    ),
    (
        "right-to-left text, base64 and two attachments",
        RenderedEmail("جامعة القاهرة", LONG_ARABIC, LONG_ARABIC * 20),
        {
            "attachments": (
                CALENDAR,
                Attachment('Übersicht; 2024 "final".ics', b"", "text", "calendar", {}),
            )
        },
    ),
    (
        "trailing white space and escapes at line ends",
        RenderedEmail("s", "end with space \nand tab\t\n", ("=" * 77 + " \n") * 12 + "\t"),
        {"message_id": "<a!b#c$d%e&f'g*h+i/j=k?l^m_n`o{p|q}r~s@example.edu>"},
    ),
    (
        # Quoted-printable and base64 come out nearly as long: the choice must be
        # measured as the email package measures it.
        "a body on the edge between quoted-printable and base64",
        RenderedEmail("s", "é" * 9 + "a" * 91 + "\n", "<p>" + "é" * 9 + "a" * 91 + "</p>\n"),
        {},
    ),
    (
        "other time zones and a long Message-ID",
        RenderedEmail("s", "t\n", "<p>h</p>"),
        {
            "date": datetime(2024, 12, 31, 23, 59, 59, 999, tzinfo=timezone(timedelta(hours=-9))),
            "message_id": "<" + "r" * 80 + "@example.edu>",
        },
    ),
    (
        "UTC and an attachment with a long file name",
        RenderedEmail("s", "t\n", "<p>h</p>"),
        {
            "date": datetime(2025, 3, 3, 6, tzinfo=UTC),
            "attachments": (
                Attachment("a" * 90 + ".ics", b"\x00\xff" * 40, "application", "octet-stream"),
            ),
        },
    ),
]


@pytest.mark.parametrize(
    ("rendered", "changes"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_the_bytes_are_the_email_packages(rendered: RenderedEmail, changes: dict[str, Any]) -> None:
    expected, written = _both(rendered, **changes)
    assert written == expected


def test_the_message_reads_back_whole() -> None:
    rendered = RenderedEmail("Üniversitesi", "Hello Ayşe,\n", HTML)
    raw = message_bytes(
        rendered,
        sender=SENDER,
        to=(COORDINATOR,),
        reply_to=None,
        message_id="<a@example.edu>",
        date=SENT_AT,
        attachments=(CALENDAR,),
    )
    parsed = message_from_bytes(raw, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Üniversitesi"
    assert parsed["To"].addresses[0].display_name == COORDINATOR.name
    body = parsed.get_body(("html",))
    # The line ends travel as CRLF.
    assert body is not None and body.get_content().replace("\r\n", "\n") == HTML
    plain = parsed.get_body(("plain",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n") == rendered.text
    (attached,) = parsed.iter_attachments()
    assert attached.get_payload(decode=True) == CALENDAR.content
    assert attached.get_param("method") == "PUBLISH"


def test_a_boundary_found_in_a_part_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = f"{'=' * 15}{7:019d}=="
    tokens = iter([7, 8, 9, 10])
    monkeypatch.setattr(random, "randrange", lambda _: next(tokens))
    rendered = RenderedEmail("s", f"--{taken}\n", "<p>h</p>")
    raw = message_bytes(
        rendered,
        sender=SENDER,
        to=(COORDINATOR,),
        reply_to=None,
        message_id="<a@example.edu>",
        date=SENT_AT,
    )
    assert f'boundary="{"=" * 15}{8:019d}=="'.encode() in raw
    parsed = message_from_bytes(raw, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    plain = parsed.get_body(("plain",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n") == rendered.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"date": datetime(2024, 3, 4, 8, 0)}, "timezone"),
        ({"to": ()}, "recipient"),
        ({"message_id": "<a@example.edu>\r\nBcc: x@y.z"}, "Message-ID"),
        ({"cc": ("two@example.edu, three@example.edu",)}, "address"),
        ({"to": (Recipient("a@example.edu\r\nBcc: thief@example.org"),)}, "address"),
        ({"attachments": (Attachment("a", b"", "text", "cal endar"),)}, "MIME token"),
    ],
)
def test_what_build_message_refuses_is_refused(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "sender": SENDER,
        "to": (COORDINATOR,),
        "reply_to": None,
        "message_id": "<a@example.edu>",
        "date": SENT_AT,
    }
    arguments.update(changes)
    rendered = RenderedEmail("s", "t\n", "<p>h</p>")
    with pytest.raises(ValueError, match=message):
        build_message(rendered, **arguments)
    with pytest.raises(ValueError, match=message):
        message_bytes(rendered, **arguments)


def _texts(pieces: Sequence[str], count: int, longest: int) -> list[str]:
    chooser = random.Random(20250303)
    return [
        "".join(chooser.choice(pieces) for _ in range(chooser.randint(0, longest)))
        for _ in range(count)
    ]


def test_quoted_printable_is_the_email_packages() -> None:
    pieces = ["a", "=", " ", "\t", "\n", "\r\n", "\r", "é", "\u0131", "\x00", "\x0b", "\x85", "€"]
    pieces += ["\u2028", "x" * 70, "===", ";", "~"]
    for text in _texts(pieces, 5000, 40):
        data = text.encode("utf-8")
        for limit in (78, 76, 10):
            expected = quoprimime.body_encode(data.decode("latin-1"), limit)
            assert quoted_printable(data, limit) == re.sub(r"\r\n|\r|\n", "\r\n", expected).encode(
                "ascii"
            ), (data, limit)


def test_wrapping_is_textwraps() -> None:
    pieces = ["a", "b", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "-", "x" * 30, "é", "\r"]
    pieces += ["\x0b", "\x1c", "\x85", "\u3000"]
    for text in _texts(pieces, 5000, 12):
        for indent, width in ((0, 76), (20, 76), (4, 20)):
            expected = textwrap.fill(
                text,
                width=width,
                subsequent_indent=" " * indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            assert wrap_text(text, indent, width) == expected, (text, indent, width)
