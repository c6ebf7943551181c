"""E-mails from digests: Jinja2 templates (plain text, autoescaped HTML) -> EmailMessage.

Every e-mail is a triad of templates, `<kind>-subject.txt`, `<kind>-body.txt` and
`<kind>-body.html`, rendered by one function. The packaged templates can be replaced
file by file from the configured templates folder. The HTML gets its CSS inlined,
since Outlook and Gmail drop <style> blocks.

The only module that imports jinja2 and css_inline.
"""

from __future__ import annotations

import base64
import binascii
import functools
import random
import re
import sys
import textwrap
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from pathlib import Path
from types import TracebackType
from typing import Any

import css_inline
import jinja2

import reminder
from reminder.dates import format_partial
from reminder.digest import Recipient, ReminderDigest
from reminder.errors import TemplateError
from reminder.records import AgreementView, CountryMatch, Precision, UntilSource
from reminder.weekly import WeeklyDigest
from reminder.windows import NOTICE, Status

#: Plain-text bodies are wrapped to this width, short enough for any mail client.
TEXT_WIDTH = 76

#: Templates compiled when a Renderer is made, so a broken one is found at start-up.
TEMPLATE_NAMES = (
    "base.html",
    "base.txt",
    "styles.css",
    "macros.html",
    "macros.txt",
    "reminder-subject.txt",
    "reminder-body.txt",
    "reminder-body.html",
    "weekly-subject.txt",
    "weekly-body.txt",
    "weekly-body.html",
)

# C0 and C1 control characters (CR and LF among them) and the Unicode line and paragraph
# separators: none of them may reach a header, where a line break starts a new header.
_HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What textwrap changes in a text that fits on one line: the white space it replaces by
# spaces, and white space at the end, which it drops (any that str.isspace() knows).
_WRAP_CHANGES = re.compile(r"[\t\n\x0b\x0c\r]|\s\Z")
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


def packaged_templates_dir() -> Path:
    """Return the folder of the built-in templates.

    An installed wheel carries them inside the package; a source checkout (or an
    editable install) has them at the top of the repository.
    """
    package = Path(reminder.__file__).parent
    installed = package / "templates" / "emails"
    return installed if installed.is_dir() else package.parent / "templates" / "emails"


class Renderer:
    """Renders digests into e-mails with the packaged templates and the user's overrides."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        """Load the templates, `templates_dir` (when given) first, file by file.

        Raises TemplateError when `templates_dir` or the packaged templates are missing,
        or when a template does not compile (naming the template and the line).
        """
        if templates_dir is not None and not templates_dir.is_dir():
            raise TemplateError(f"templates_dir {templates_dir}: no such folder")
        packaged = packaged_templates_dir()
        if not packaged.is_dir():
            raise TemplateError(f"the built-in templates are missing: no folder {packaged}")
        self._user_dir = templates_dir
        self.search_path: tuple[Path, ...] = (
            (templates_dir, packaged) if templates_dir is not None else (packaged,)
        )
        self._environment = _environment(self.search_path)
        self._inliner = StyleInliner()
        for name in TEMPLATE_NAMES:
            try:
                self._environment.get_template(name)
            except Exception as error:
                raise self._template_error(name, error) from error

    def reminder(self, digest: ReminderDigest) -> RenderedEmail:
        """Return the reminder e-mail for `digest`. Raises TemplateError."""
        return self._render("reminder", {"digest": digest})

    def weekly(self, digest: WeeklyDigest) -> RenderedEmail:
        """Return the weekly status e-mail for `digest`. Raises TemplateError."""
        return self._render("weekly", {"digest": digest})

    def _render(self, kind: str, context: Mapping[str, Any]) -> RenderedEmail:
        subject = single_line(self._render_template(f"{kind}-subject.txt", context))
        text = tidy_text(self._render_template(f"{kind}-body.txt", context))
        html_name = f"{kind}-body.html"
        html = self._render_template(html_name, context)
        try:
            inlined = self._inliner.inline(html)
        except ValueError as error:
            raise TemplateError(f"{html_name}: the CSS cannot be inlined: {error}") from error
        return RenderedEmail(subject, text, inlined)

    def _render_template(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self._environment.get_template(name).render(context)
        except Exception as error:
            # Whatever a template raises (undefined name, a filter given the wrong type,
            # a division by zero in a user's override) is a template problem; the chained
            # error keeps the traceback for --debug.
            raise self._template_error(name, error) from error

    def _template_error(self, name: str, error: Exception) -> TemplateError:
        """Return a TemplateError naming the template file and line where `error` arose."""
        if isinstance(error, jinja2.TemplateSyntaxError):
            where = self._describe(error.filename, error.name or name)
            return TemplateError(f"{where}:{error.lineno}: {error.message}")
        if isinstance(error, jinja2.TemplateNotFound):
            folders = ", ".join(str(path) for path in self.search_path)
            return TemplateError(f"{name}: template {error.name} not found in {folders}")
        message = error.message if isinstance(error, jinja2.TemplateError) else str(error)
        message = message or type(error).__name__
        frame = self._innermost_template_frame(error.__traceback__)
        if frame is None:
            return TemplateError(f"{name}: {message}")
        filename, line = frame
        return TemplateError(f"{self._describe(filename, name)}:{line}: {message}")

    def _innermost_template_frame(self, trace: TracebackType | None) -> tuple[str, int] | None:
        # Jinja rewrites tracebacks so template code shows as frames in the template file.
        found = None
        for frame in traceback.extract_tb(trace):
            if frame.lineno is not None and self._folder_of(frame.filename) is not None:
                found = (frame.filename, frame.lineno)
        return found

    def _folder_of(self, filename: str | None) -> Path | None:
        if filename is None:
            return None
        path = Path(filename)
        return next((folder for folder in self.search_path if path.is_relative_to(folder)), None)

    def _describe(self, filename: str | None, name: str) -> str:
        """Return the full path of a user's template, the plain name of a packaged one."""
        folder = self._folder_of(filename)
        if filename is None or folder is None:
            return name
        if folder == self._user_dir:
            return filename
        return Path(filename).relative_to(folder).as_posix()


class StyleInliner:
    """Moves the CSS of a document's <style> block into style="" attributes, as css-inline
    does, and removes the block.

    css-inline parses and writes the whole document every time, which costs more than
    rendering it. When every selector of the stylesheet is a plain element or class one
    (as in the packaged styles.css), an element's style depends on its start tag alone:
    css-inline is then asked once per distinct start tag, and each document's tags get
    the style remembered for them. Any other stylesheet or document (a <link>, a
    <script>, a selector with context, markup this reader cannot follow) goes through
    css-inline whole. Either way every element ends with the same style attribute.
    """

    #: Distinct start tags remembered for one stylesheet; the templates write a few dozen.
    MEMORY = 4096

    def __init__(self) -> None:
        # Remote stylesheets stay unloaded: rendering must never fetch from the network.
        self._inliner = css_inline.CSSInliner(
            keep_style_tags=False, keep_link_tags=False, load_remote_stylesheets=False
        )
        self._css: str | None = None
        self._tags: dict[str, str] = {}

    def inline(self, html: str) -> str:
        """Return `html` with its CSS inlined and its <style> block removed.

        Raises ValueError when the CSS cannot be inlined.
        """
        start = html.find("<style>")
        end = html.find("</style>", start)
        if start < 0 or end < 0:
            return self._whole(html)
        css = html[start + len("<style>") : end]
        body = html[:start] + html[end + len("</style>") :]
        if css != self._css:
            if not _context_free(css):
                return self._whole(html)
            self._css, self._tags = css, {}
        elif len(self._tags) > self.MEMORY:
            self._tags = {}
        if _STYLE_OPENING.search(body) or _TITLE_WITH_MARKUP.search(body):
            return self._whole(html)
        try:
            return _MARKUP.sub(self._styled, body)
        except _NeedsDocumentError:
            return self._whole(html)

    def _styled(self, markup: re.Match[str]) -> str:
        """Return the markup `markup` matched with its style: remembered or learned."""
        text = markup[0]
        styled = self._tags.get(text)
        if styled is None:
            styled = self._tags[text] = self._learn(text)
        return styled

    def _learn(self, text: str) -> str:
        """Return the markup `text` as css-inline would write its style.

        Raises _NeedsDocumentError when only css-inline's parser can tell.
        """
        if _COMMENT.fullmatch(text) or _END_TAG.fullmatch(text) or _DOCTYPE.fullmatch(text):
            return text
        tag = _START_TAG.fullmatch(text)
        if tag is None or tag[1].lower() in _NEEDS_DOCUMENT or self._css is None:
            raise _NeedsDocumentError(text)
        name = tag[1].lower()
        probe = text[:-1].rstrip("/").rstrip() + f" {_PROBE}>"
        head = f"<style>{self._css}</style>"
        if name == "html":
            document = f"{probe}<head>{head}</head><body></body></html>"
        elif name == "head":
            document = f"<html>{probe}{head}</head><body></body></html>"
        elif name == "body":
            document = f"<html><head>{head}</head>{probe}</body></html>"
        elif name in _HEAD_ELEMENTS:
            document = f"<html><head>{head}{probe}</head><body></body></html>"
        else:
            before, after = _TABLE_CONTEXT.get(name, ("", ""))
            document = f"<html><head>{head}</head><body>{before}{probe}{after}</body></html>"
        found = _PROBED.search(self._whole(document))
        if found is None:
            raise _NeedsDocumentError(text)
        style = _STYLE_VALUE.search(found[0])
        if style is None:
            return text
        own = _STYLE_ATTRIBUTE.search(text)
        if own is not None:
            return f"{text[: own.start()]} {style[0].strip()}{text[own.end() :]}"
        cut = len(text) - 2 if text.endswith("/>") else len(text) - 1
        return f"{text[:cut].rstrip()} {style[0].strip()}{text[cut:]}"

    def _whole(self, html: str) -> str:
        try:
            return str(self._inliner.inline(html))
        except css_inline.InlineError as error:
            raise ValueError(str(error)) from error


class _NeedsDocumentError(Exception):
    """Markup whose style only css-inline's reading of the whole document can give."""


def _context_free(css: str) -> bool:
    """Return whether every rule of `css` has only element and class selectors."""
    rules = _CSS_COMMENT.sub("", css)
    if "@" in rules or "\\" in rules or "<" in rules:
        return False
    for rule in _CSS_RULE.finditer(rules):
        if not all(_SIMPLE_SELECTOR.fullmatch(part.strip()) for part in rule[1].split(",")):
            return False
    return not _CSS_RULE.sub("", rules).strip()


_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_RULE = re.compile(r"([^{}]+)\{[^{}]*\}")
_SIMPLE_SELECTOR = re.compile(
    r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z_-][\w-]*)*|(?:\.[A-Za-z_-][\w-]*)+"
)
_STYLE_OPENING = re.compile(r"<style\b", re.IGNORECASE)
# A title's text is not markup: a "<" in it other than its end tag is left to css-inline.
_TITLE_WITH_MARKUP = re.compile(r"<title\b[^>]*>[^<]*<(?!/title\s*>)", re.IGNORECASE)
# Comments (Outlook's conditional ones among them), tags, and a "<" that HTML would
# read as the start of markup; any other "<" is text.
_MARKUP = re.compile(r"<!--.*?-->|<[^<>]*>|<(?=[A-Za-z/!?])", re.DOTALL)
_COMMENT = re.compile(r"<!--(?!-?>).*?-->", re.DOTALL)
_END_TAG = re.compile(r"</[A-Za-z][A-Za-z0-9]*\s*>")
_DOCTYPE = re.compile(r"<!DOCTYPE\s+html\s*>", re.IGNORECASE)
_START_TAG = re.compile(
    r"""<([A-Za-z][A-Za-z0-9]*)(?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*"""
    r"\s*/?>"
)
# Elements whose content is not markup (scripts, raw text) or another language, and
# those that load or change what the document is.
_NEEDS_DOCUMENT = frozenset(
    {"base", "iframe", "link", "math", "noembed", "noframes", "noscript", "object"}
    | {"plaintext", "script", "style", "svg", "template", "textarea", "xmp"}
)
_PROBE = 'data-reminder-probe=""'
_PROBED = re.compile(rf"<[A-Za-z][A-Za-z0-9]*\s(?:[^>]*\s)?{_PROBE}[^>]*>")
_STYLE_VALUE = re.compile(r'\sstyle="[^"]*"')
_STYLE_ATTRIBUTE = re.compile(r"""\s+style\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)""", re.I)
_HEAD_ELEMENTS = frozenset({"meta", "title"})
# Where a probed element goes for an HTML parser to keep it where it is.
_TABLE_CONTEXT = {
    "td": ("<table><tbody><tr>", "</tr></tbody></table>"),
    "th": ("<table><tbody><tr>", "</tr></tbody></table>"),
    "tr": ("<table><tbody>", "</tbody></table>"),
    "tbody": ("<table>", "</table>"),
    "thead": ("<table>", "</table>"),
    "tfoot": ("<table>", "</table>"),
    "caption": ("<table>", "</table>"),
    "colgroup": ("<table>", "</table>"),
    "col": ("<table><colgroup>", "</colgroup></table>"),
}


def _environment(search_path: Sequence[Path]) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(path) for path in search_path]),
        # Plain text and subjects are not HTML: escaping them would show "&amp;" to readers.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        days_in_words=days_in_words,
        expiry=expiry_in_words,
        plural=plural,
        window_name=window_name,
        concluded=concluded_text,
        until=until_text,
        until_basis=until_basis,
        country_note=country_note,
        status_label=status_label,
        wrap=wrap_text,
    )
    return environment


# ---------------------------------------------------------------------------------------
# Wording the templates use through filters


def days_in_words(days_left: int) -> str:
    """Return "in 30 days", "in 1 day", "today", "expired 1 day ago", "expired 3 days ago"."""
    if days_left == 0:
        return "today"
    if days_left > 0:
        return f"in {plural(days_left, 'day')}"
    return f"expired {plural(-days_left, 'day')} ago"


def expiry_in_words(days_left: int) -> str:
    """Return "expires in 7 days", "expires today" or "expired 3 days ago"."""
    words = days_in_words(days_left)
    return words if days_left < 0 else f"expires {words}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """Return the count with its noun: "1 agreement", "3 agreements"."""
    noun = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {noun}"


def window_name(window: int) -> str:
    """Return "180-day reminder", or "expiry notice" for the notice."""
    return "expiry notice" if window == NOTICE else f"{window}-day reminder"


def concluded_text(agreement: AgreementView) -> str:
    """Return the conclusion date as precise as the table gave it: "15.06.2017", "2017"."""
    return format_partial(agreement.concluded, agreement.concluded_precision)


def until_text(agreement: AgreementView) -> str:
    """Return the effective-until date, "about 2023-01-01" when it is approximate."""
    day = agreement.effective_until.isoformat()
    return f"about {day}" if agreement.approximate else day


def until_basis(agreement: AgreementView) -> str:
    """Return how the effective-until date was worked out, or "" when it was given."""
    if agreement.effective_until_source is UntilSource.TERM:
        basis = "no end date in the table: the conclusion date plus the term"
    elif agreement.effective_until_source is UntilSource.YEAR:
        basis = "only the year in the table: the anniversary of the conclusion date"
    elif agreement.approximate:
        basis = "only the month in the table: its first day"
    else:
        return ""
    if agreement.approximate and agreement.concluded_precision is not Precision.DAY:
        basis += "; the conclusion day is not known"
    return basis


def country_note(agreement: AgreementView) -> str:
    """Return the country code for after the country as written: "(AZ)", "(not recognised)"."""
    if agreement.country_code is None or agreement.country_match is CountryMatch.UNKNOWN:
        return "(not recognised)"
    if agreement.country_match is CountryMatch.APPROXIMATE:
        return f"({agreement.country_code}, matched approximately)"
    return f"({agreement.country_code})"


def status_label(status: Status, largest_window: int) -> str:
    """Return a status as the weekly counts name it."""
    labels = {
        Status.ACTIVE: f"In force beyond {largest_window} days",
        Status.EXPIRING: f"Expiring within {largest_window} days",
        Status.EXPIRED: "Expired",
        Status.SUPERSEDED: "Superseded",
        Status.RETIRED: "Retired",
    }
    return labels.get(status, str(status).capitalize())


def tidy_text(text: str) -> str:
    """Return `text` without trailing spaces, with at most one blank line in a row.

    Lets templates (and the users' overrides) be written for readability rather than
    with exact control of every newline.
    """
    kept: list[str] = []
    for line in text.strip("\n").splitlines():
        line = line.rstrip()
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).rstrip("\n") + "\n"


def wrap_text(text: str, indent: int = 0, width: int = TEXT_WIDTH) -> str:
    """Return `text` wrapped to `width`, following lines indented by `indent` spaces.

    Long words (addresses, commands, a name without spaces) are never broken.
    """
    if len(text) <= width and not _WRAP_CHANGES.search(text):
        # What textwrap would return unchanged, without its cost: a plain-text card
        # wraps a dozen short lines per agreement.
        return text
    return textwrap.fill(
        text,
        width=width,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


# ---------------------------------------------------------------------------------------
# The message


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
    if len(sniff_qp) > len(binascii.b2a_base64(sniff)):
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
