"""E-mails from digests: Jinja2 templates (plain text, autoescaped HTML) -> RenderedEmail.

Every e-mail is a triad of templates, `<kind>-subject.txt`, `<kind>-body.txt` and
`<kind>-body.html`, rendered by one function. The packaged templates can be replaced
file by file from the configured templates folder. The HTML gets its CSS inlined
(see css), since Outlook and Gmail drop <style> blocks; mime turns the result into a
message.

The only module that imports jinja2.
"""

from __future__ import annotations

import re
import textwrap
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

import reminder
from reminder.domain.reminder_digest import ReminderDigest
from reminder.domain.weekly_digest import WeeklyDigest
from reminder.domain.wording import (
    concluded_text,
    country_note,
    days_in_words,
    expiry_in_words,
    plural,
    status_label,
    until_basis,
    until_text,
    window_name,
)
from reminder.errors import TemplateError
from reminder.mail.css import inline_css, style_inliner
from reminder.mail.mime import RenderedEmail, single_line

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

# What textwrap changes in a text that fits on one line: the white space it replaces by
# spaces, and white space at the end, which it drops (any that str.isspace() knows).
_WRAP_CHANGES = re.compile(r"[\t\n\x0b\x0c\r]|\s\Z")


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
        self._inliner = style_inliner()
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
            inlined = inline_css(self._inliner, html)
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


def _environment(search_path: Sequence[Path]) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(path) for path in search_path]),
        # Plain text and subjects are not HTML: escaping them would show "&amp;" to readers.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(TEMPLATE_FILTERS)
    return environment


# ---------------------------------------------------------------------------------------
# Shaping the rendered text


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


#: The filters every template may use, by name.
TEMPLATE_FILTERS: Mapping[str, Callable[..., str]] = {
    "days_in_words": days_in_words,
    "expiry": expiry_in_words,
    "plural": plural,
    "window_name": window_name,
    "concluded": concluded_text,
    "until": until_text,
    "until_basis": until_basis,
    "country_note": country_note,
    "status_label": status_label,
    "wrap": wrap_text,
}
