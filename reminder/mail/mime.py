"""Messages from rendered e-mails: EmailMessage objects, or their bytes written directly.

A rendered e-mail (subject, plain text, HTML) becomes a multipart/alternative message,
with attachments (calendar files) after it in a multipart/mixed one. `build_message`
makes an EmailMessage with policy SMTP; `message_bytes` writes the same bytes as its
`as_bytes()` several times faster, and is what the runs use. `build_message` stays as
the plain construction through the email package: the tests hold message_bytes to it.
Names, addresses and the subject are put on one line and checked, so no value can add
a header or a recipient.

The standard library's email package only: the templates are render's, the transport
mailer's.
"""

from __future__ import annotations

import base64
import binascii
import functools
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from typing import Any

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


# ---------------------------------------------------------------------------------------
# The message as bytes
#
# A run composes hundreds of messages, and building each as an EmailMessage and then
# serialising it costs milliseconds: every header is parsed on the way in and again,
# with its parameters, on the way out. message_bytes writes the same bytes directly. The
# email package still folds and encodes (RFC 2047, RFC 2231) every header that is not
# plain ASCII on one line, once per distinct value; the bodies are encoded as its
# content manager encodes them.

# A Message-ID the email package writes back unchanged: dot-atoms on both sides.
_PLAIN_MESSAGE_ID = re.compile(
    r"<[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>"
)
# The bytes quoted-printable leaves as they are in a body ("=" aside): printable ASCII,
# tab and the line breaks.
_QP_SAFE = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_QP_ESCAPES = [f"={octet:02X}" for octet in range(256)]
_QP_ESCAPES_BYTES = [escape.encode("ascii") for escape in _QP_ESCAPES]
# MIME boundaries as the generator makes them: "=" * 15, a random number, "==".
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
_FIXED_HEADERS = (
    b"Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\nMIME-Version: 1.0\r\n"
)


def message_bytes(
    rendered: RenderedEmail,
    *,
    sender: str,
    to: Sequence[Recipient],
    cc: Sequence[str] = (),
    reply_to: str | None,
    message_id: str,
    date: datetime,
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """Return the message `build_message` makes with these arguments, as the bytes its
    `as_bytes(policy=SMTP)` gives: the same headers, parts and encodings, with other
    random MIME boundaries. Several times faster, for runs that compose many messages.

    Raises ValueError as build_message does.
    """
    _check_message(to, message_id, date)
    for attachment in attachments:
        _check_mime_tokens(attachment)
    head = [
        _address_header("From", (sender,)),
        _recipients_header(tuple((recipient.name, recipient.email) for recipient in to)),
    ]
    if cc:
        head.append(_address_header("Cc", tuple(cc)))
    if reply_to:
        head.append(_address_header("Reply-To", (reply_to,)))
    head += (
        _subject_header(single_line(rendered.subject)),
        _date_header(format_datetime(date)),
        _message_id_header(message_id),
        _FIXED_HEADERS,
    )
    # set_content makes the plain part; add_alternative adds the HTML one as a new
    # EmailMessage, which gets a MIME-Version header of its own.
    plain = _text_part(rendered.text, "plain", b"")
    html = _text_part(rendered.html, "html", b"MIME-Version: 1.0\r\n")
    content_type, body = _multipart("alternative", [plain, html])
    if attachments:
        content_type, body = _multipart(
            "mixed",
            [content_type + b"\r\n" + body]
            + [_attachment_part(attachment) for attachment in attachments],
        )
    return b"".join(head) + content_type + b"\r\n" + body


def _folded(name: str, value: Any) -> bytes:
    """Return the header line(s) the email package writes for `name` set to `value`."""
    return SMTP.fold_binary(*SMTP.header_store_parse(name, value))


@functools.lru_cache(maxsize=64)
def _address_header(name: str, addresses: tuple[str, ...]) -> bytes:
    # The sender, reply-to and copies come from the config: the same in every message.
    return _folded(name, tuple(parse_address(address) for address in addresses))


@functools.lru_cache(maxsize=4096)
def _recipients_header(recipients: tuple[tuple[str, str], ...]) -> bytes:
    # A coordinator gets a digest every day or so: a daemon meets the same ones again.
    return _folded("To", tuple(_address(name, email) for name, email in recipients))


def _subject_header(subject: str) -> bytes:
    line = f"Subject: {subject}\r\n"
    # Plain ASCII that fits on a line is written as it is; anything else may need
    # folding or encoded words.
    if subject and subject.isascii() and "=?" not in subject and len(line) <= 80:
        return line.encode("ascii")
    return _folded("Subject", subject)


@functools.lru_cache(maxsize=64)
def _date_header(value: str) -> bytes:
    # A run dates all its messages with its start.
    return _folded("Date", value)


def _message_id_header(message_id: str) -> bytes:
    line = f"Message-ID: {message_id}\r\n"
    if len(line) <= 80 and _PLAIN_MESSAGE_ID.fullmatch(message_id):
        return line.encode("ascii")
    return _folded("Message-ID", message_id)


def _text_part(text: str, subtype: str, extra_headers: bytes) -> bytes:
    """Return a text part: its headers, the blank line and `text` encoded."""
    transfer_encoding, body = _encode_text(text)
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {transfer_encoding}\r\n"
    )
    return head.encode("ascii") + extra_headers + b"\r\n" + body


def _encode_text(text: str) -> tuple[str, bytes]:
    """Return the Content-Transfer-Encoding and the body of `text` in UTF-8.

    The choice is the email package's (email.contentmanager, policy SMTP): 7bit or 8bit
    when no line is longer than the policy allows, else quoted-printable or base64,
    whichever is shorter for the first ten lines.
    """
    lines = text.encode("utf-8").splitlines()
    limit = SMTP.max_line_length or 78
    if max((len(line) for line in lines), default=0) <= limit:
        body = b"\r\n".join(lines) + b"\r\n"
        return ("7bit" if body.isascii() else "8bit"), body
    sniff = b"\r\n".join(lines[:10]) + b"\r\n"
    sniff_qp = quoted_printable(sniff, limit)
    # Measured as the email package measures it: its sample ends lines with "\n".
    if len(sniff_qp) - sniff_qp.count(b"\r\n") > len(binascii.b2a_base64(sniff)):
        return "base64", _base64_body(b"\r\n".join(lines) + b"\r\n")
    if len(lines) <= 10:
        return "quoted-printable", sniff_qp
    return "quoted-printable", quoted_printable(b"\n".join(lines) + b"\n", limit)


def quoted_printable(data: bytes, limit: int) -> bytes:
    """Return `data` in quoted-printable with CRLF line ends, lines at most `limit` long.

    The same text as the email package's quoprimime.body_encode (given `data` as
    Latin-1) written by its generator; several times faster on a mostly-ASCII body.
    """
    if not data:
        return b""
    # "=" first: the escapes added next start with one. Then each other byte that needs
    # escaping, found in one pass; a body has few distinct ones (its UTF-8 letters).
    escaped_bytes = data.replace(b"=", b"=3D")
    for octet in set(escaped_bytes.translate(None, _QP_SAFE)):
        escaped_bytes = escaped_bytes.replace(bytes((octet,)), _QP_ESCAPES_BYTES[octet])
    escaped = escaped_bytes.decode("ascii")
    encoded: list[str] = []
    append = encoded.append
    width = limit - 1
    for line in escaped.splitlines():
        # Break the line into pieces no longer than limit - 1 and a soft break, never
        # inside an escape.
        start = 0
        last_start = len(line) - 1 - limit
        while start <= last_start:
            stop = start + width
            if line[stop - 2] == "=":
                append(line[start : stop - 1])
                start = stop - 2
            elif line[stop - 1] == "=":
                append(line[start:stop])
                start = stop - 1
            else:
                append(line[start:stop] + "=")
                start = stop
        if line and line[-1] in " \t":
            # White space ending a line would be lost in transit: it is escaped.
            room = start - last_start
            if room >= 3:
                end = _QP_ESCAPES[ord(line[-1])]
            elif room == 2:
                end = line[-1] + "=\r\n"
            else:
                end = "=\r\n" + _QP_ESCAPES[ord(line[-1])]
            append(line[start:-1] + end)
        else:
            append(line[start:])
    if escaped[-1] in "\r\n":
        append("")
    return "\r\n".join(encoded).encode("ascii")


def _base64_body(data: bytes) -> bytes:
    # 57 bytes a line, as the content manager writes it for a 78-character limit.
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _attachment_part(attachment: Attachment) -> bytes:
    head = _attachment_headers(
        single_line(attachment.filename),
        attachment.maintype,
        attachment.subtype,
        tuple((key, single_line(value)) for key, value in attachment.params.items()),
    )
    return head + b"\r\n" + _base64_body(attachment.content)


@functools.lru_cache(maxsize=64)
def _attachment_headers(
    filename: str, maintype: str, subtype: str, params: tuple[tuple[str, str], ...]
) -> bytes:
    """Return the headers add_attachment gives a part, which do not depend on its content."""
    part = EmailMessage(policy=SMTP)
    part.set_content(
        b"", maintype=maintype, subtype=subtype, filename=filename, params=dict(params)
    )
    if "Content-Disposition" not in part:
        part["Content-Disposition"] = "attachment"
    return b"".join(SMTP.fold_binary(name, value) for name, value in part.raw_items())


def _multipart(subtype: str, parts: list[bytes]) -> tuple[bytes, bytes]:
    """Return the Content-Type header of a multipart of `parts` and its body."""
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="
        delimiter = b"--" + boundary.encode("ascii")
        if not any(delimiter in part for part in parts):
            break
    body = (
        delimiter
        + b"\r\n"
        + (b"\r\n" + delimiter + b"\r\n").join(parts)
        + b"\r\n"
        + delimiter
        + b"--\r\n"
    )
    return _multipart_type(subtype).replace(_SAMPLE_BOUNDARY, boundary.encode("ascii")), body


_SAMPLE_BOUNDARY = b"=" * 15 + b"0" * _BOUNDARY_DIGITS + b"=="


@functools.lru_cache(maxsize=8)
def _multipart_type(subtype: str) -> bytes:
    # Folded once with a boundary of the same length and characters as the real ones.
    boundary = _SAMPLE_BOUNDARY.decode("ascii")
    return _folded("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')
