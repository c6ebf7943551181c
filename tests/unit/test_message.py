"""Messages built by the email package: what goes in reads back, in lines SMTP carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reminder.domain.reminder_digest import Recipient
from reminder.mail.mime import Attachment, RenderedEmail, build_message

SENDER = "Agreement reminders <reminder@example.edu>"
MESSAGE_ID = "<reminder.0b26e225062cd96129da0a3396bbd4bf@example.edu>"
SENT_AT = datetime(2024, 3, 4, 8, 0, tzinfo=ZoneInfo("Europe/Istanbul"))
COORDINATOR = Recipient("coordinator@example.edu", "Ayşe Yılmaz")
CALENDAR = Attachment(
    "agreements.ics",
    b"BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\n" + b"X" * 300 + b"\r\nEND:VCALENDAR\r\n",
    "text",
    "calendar",
    {"method": "PUBLISH", "charset": "UTF-8"},
)


def _raw(rendered: RenderedEmail, **changes: Any) -> bytes:
    """Return the bytes of the message build_message makes, as the runs write them."""
    arguments: dict[str, Any] = {
        "sender": SENDER,
        "to": (COORDINATOR,),
        "cc": (),
        "reply_to": "international@example.edu",
        "message_id": MESSAGE_ID,
        "date": SENT_AT,
        "attachments": (),
    }
    arguments.update(changes)
    return build_message(rendered, **arguments).as_bytes()


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
def test_what_goes_in_reads_back_in_lines_smtp_carries(
    rendered: RenderedEmail, changes: dict[str, Any]
) -> None:
    raw = _raw(rendered, **changes)
    # CRLF line ends only, and no line over RFC 5322's limit.
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = message_from_bytes(raw, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    if "=?" not in rendered.subject:
        # A subject holding a literal encoded word is written as it is by the email
        # package, and a reader decodes it: the text differs, the header stays one line.
        assert parsed["Subject"] == " ".join(rendered.subject.split())
    assert len(parsed.get_all("Subject") or ()) == 1
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Message-ID"] == changes.get("message_id", MESSAGE_ID)
    for subtype, sent in (("plain", rendered.text), ("html", rendered.html)):
        part = parsed.get_body((subtype,))
        assert isinstance(part, EmailMessage)
        if part["Content-Transfer-Encoding"] in ("7bit", "8bit"):
            # Unencoded lines must fit; longer ones are what quoted-printable and base64 are for.
            assert all(len(line) <= 78 for line in str(part.get_payload()).splitlines())
        # Any line end sent reads back as a line end; an empty body as one empty line.
        assert part.get_content().splitlines() == (sent.splitlines() or [""])
    attached = list(parsed.iter_attachments())
    assert [part.get_payload(decode=True) for part in attached] == [
        attachment.content for attachment in changes.get("attachments", ())
    ]


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
