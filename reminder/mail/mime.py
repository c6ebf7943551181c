"""Messages from rendered e-mails: EmailMessage objects built by the email package.

A rendered e-mail (subject, plain text, HTML) becomes a multipart/alternative message,
with attachments (calendar files) after it in a multipart/mixed one. `build_message`
makes an EmailMessage with policy SMTP, and the runs write it with its `as_bytes()`: the
encodings (7bit, 8bit, quoted-printable or base64), the header folding and the MIME
boundaries are the email package's. Names, addresses and the subject are put on one
line and checked, so no value can add a header or a recipient.

The standard library's email package only: the templates are render's, carrying the
bytes is the transports'.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses

from reminder.domain.reminder_digest import Recipient

# C0 and C1 control characters (CR and LF among them) and the Unicode line and paragraph
# separators: none of them may reach a header, where a line break starts a new header.
_HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A Message-ID is "<left@right>" in printable ASCII without angle brackets or a second "@".
_MESSAGE_ID = re.compile(r"<[!-;=?A-~]+@[!-;=?A-~]+>")
_MIME_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered triad: a one-line subject, the plain-text body and the inlined HTML."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message; `params` go on its Content-Type (method=PUBLISH)."""

    filename: str
    content: bytes
    maintype: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)


def single_line(text: str) -> str:
    """Return `text` fit for a header: control characters and line breaks become spaces,
    runs of white space one space."""
    return " ".join(_HEADER_UNSAFE.sub(" ", text).split())


def parse_address(text: str) -> Address:
    """Return the Address of one "Name <user@host>" or "user@host" string.

    Raises ValueError when `text` is not exactly one address or holds a line break.
    """
    if _HEADER_UNSAFE.search(text):
        raise ValueError(f"{text!r} is not an e-mail address: it holds a control character")
    parsed = getaddresses([text])
    if len(parsed) != 1 or not parsed[0][1]:
        raise ValueError(f"{text!r} is not one e-mail address")
    display_name, addr_spec = parsed[0]
    return _address(display_name, addr_spec)


def _address(display_name: str, addr_spec: str) -> Address:
    # A bad address is refused rather than cleaned: guessing could mail someone else.
    if not addr_spec or _HEADER_UNSAFE.search(addr_spec) or "@" not in addr_spec:
        raise ValueError(f"{addr_spec!r} is not an e-mail address")
    try:
        return Address(display_name=single_line(display_name), addr_spec=addr_spec)
    except (ValueError, HeaderParseError) as error:
        raise ValueError(f"{addr_spec!r} is not an e-mail address: {error}") from None


def build_message(
    rendered: RenderedEmail,
    *,
    sender: str,
    to: Sequence[Recipient],
    cc: Sequence[str] = (),
    reply_to: str | None,
    message_id: str,
    date: datetime,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """Return the message: text and HTML as alternatives, attachments after them.

    `sender`, `cc` and `reply_to` are "Name <user@host>" strings from the config,
    `message_id` is "<left@right>", `date` a timezone-aware datetime. Names and the
    subject are put on one line, so no value can add a header or a recipient.

    Raises ValueError for a naive `date`, no recipient, an invalid address, Message-ID
    or attachment type.
    """
    _check_message(to, message_id, date)
    message = EmailMessage(policy=SMTP)
    message["From"] = parse_address(sender)
    message["To"] = tuple(_address(recipient.name, recipient.email) for recipient in to)
    if cc:
        message["Cc"] = tuple(parse_address(address) for address in cc)
    if reply_to:
        message["Reply-To"] = parse_address(reply_to)
    message["Subject"] = single_line(rendered.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    # RFC 3834: marks the message as sent by a program, so well-behaved autoresponders
    # do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    # Exchange ignores Auto-Submitted; this keeps its out-of-office replies away.
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    for attachment in attachments:
        _attach(message, attachment)
    return message


def _attach(message: EmailMessage, attachment: Attachment) -> None:
    _check_mime_tokens(attachment)
    message.add_attachment(
        attachment.content,
        maintype=attachment.maintype,
        subtype=attachment.subtype,
        filename=single_line(attachment.filename),
        params={key: single_line(value) for key, value in attachment.params.items()},
    )


def _check_message(to: Sequence[Recipient], message_id: str, date: datetime) -> None:
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the Date header needs a timezone-aware datetime")
    if not to:
        raise ValueError("a message needs at least one recipient")
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"{message_id!r} is not a Message-ID of the form <left@right>")


def _check_mime_tokens(attachment: Attachment) -> None:
    for token in (attachment.maintype, attachment.subtype, *attachment.params):
        if not _MIME_TOKEN.fullmatch(token):
            raise ValueError(f"{token!r} is not a MIME token")
