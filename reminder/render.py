"""E-mails from digests: Jinja2 templates (plain text, autoescaped HTML) -> EmailMessage.

Every e-mail is a triad of templates, `<kind>-subject.txt`, `<kind>-body.txt` and
`<kind>-body.html`, rendered by one function. The packaged templates can be replaced
file by file from the configured templates folder. The HTML gets its CSS inlined,
since Outlook and Gmail drop <style> blocks.

The only module that imports jinja2 and css_inline.
"""

from __future__ import annotations

import re
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
        # Remote stylesheets stay unloaded: rendering must never fetch from the network.
        self._inliner = css_inline.CSSInliner(
            keep_style_tags=False, keep_link_tags=False, load_remote_stylesheets=False
        )
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
        except css_inline.InlineError as error:
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
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the Date header needs a timezone-aware datetime")
    if not to:
        raise ValueError("a message needs at least one recipient")
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"{message_id!r} is not a Message-ID of the form <left@right>")
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
    for token in (attachment.maintype, attachment.subtype, *attachment.params):
        if not _MIME_TOKEN.fullmatch(token):
            raise ValueError(f"{token!r} is not a MIME token")
    message.add_attachment(
        attachment.content,
        maintype=attachment.maintype,
        subtype=attachment.subtype,
        filename=single_line(attachment.filename),
        params={key: single_line(value) for key, value in attachment.params.items()},
    )
