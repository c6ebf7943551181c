"""E-mails from digests: Jinja2 templates (plain text, autoescaped HTML) -> RenderedEmail.

Every e-mail is a triad of templates, `<kind>-subject.txt`, `<kind>-body.txt` and
`<kind>-body.html`, rendered by one function in the recipient's language: one Jinja2
environment per language, with the i18n extension (newstyle gettext) and that
language's catalog (see i18n). The packaged templates can be replaced file by file
from the configured templates folder, and per language from its subfolder named after
the language (templates_dir/tr/). The HTML gets its CSS inlined (see css), since
Outlook and Gmail drop <style> blocks; mime turns the result into a message.

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
from reminder.domain.wording import Wording, plural
from reminder.errors import TemplateError
from reminder.mail.css import inline_css, style_inliner
from reminder.mail.i18n import translations, wording
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
    """Renders digests into e-mails with the packaged templates and the user's overrides,
    each in its recipient's language."""

    def __init__(
        self, templates_dir: Path | None = None, languages: Sequence[str] = ("en",)
    ) -> None:
        """Load the templates, `templates_dir` (when given) first, file by file, for each
        of `languages` (templates_dir/LANG/ before templates_dir/ for that language).

        Raises TemplateError when `templates_dir` or the packaged templates are missing,
        when a language's catalog cannot be read, or when a template does not compile
        (naming the template and the line).
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
        self._environments: dict[str, jinja2.Environment] = {}
        self._inliner = style_inliner()
        for language in dict.fromkeys(languages):
            self._environment(language)

    def search_path_of(self, language: str) -> tuple[Path, ...]:
        """Return the folders the templates of `language` are looked up in, in order."""
        if self._user_dir is None:
            return self.search_path
        return (self._user_dir / language, *self.search_path)

    def _environment(self, language: str) -> jinja2.Environment:
        """Return the environment of `language`, every template compiled on first use.

        Raises TemplateError (a catalog that cannot be read, a template that does not
        compile)."""
        environment = self._environments.get(language)
        if environment is None:
            environment = environment_for(language, self.search_path_of(language))
            for name in TEMPLATE_NAMES:
                try:
                    environment.get_template(name)
                except Exception as error:
                    raise self._template_error(name, error) from error
            self._environments[language] = environment
        return environment

    def reminder(self, digest: ReminderDigest) -> RenderedEmail:
        """Return the reminder e-mail for `digest`, in its recipient's language.

        Raises TemplateError."""
        return self._render("reminder", digest.recipient.language, {"digest": digest})

    def weekly(self, digest: WeeklyDigest) -> RenderedEmail:
        """Return the weekly status e-mail for `digest`, in its recipient's language.

        Raises TemplateError."""
        return self._render("weekly", digest.recipient.language, {"digest": digest})

    def _render(self, kind: str, language: str, context: Mapping[str, Any]) -> RenderedEmail:
        environment = self._environment(language)
        subject = single_line(self._render_template(environment, f"{kind}-subject.txt", context))
        text = tidy_text(self._render_template(environment, f"{kind}-body.txt", context))
        html_name = f"{kind}-body.html"
        html = self._render_template(environment, html_name, context)
        try:
            inlined = inline_css(self._inliner, html)
        except ValueError as error:
            raise TemplateError(f"{html_name}: the CSS cannot be inlined: {error}") from error
        return RenderedEmail(subject, text, inlined)

    def _render_template(
        self, environment: jinja2.Environment, name: str, context: Mapping[str, Any]
    ) -> str:
        try:
            return environment.get_template(name).render(context)
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
        folders = (*self.search_path_of(path.parent.name), *self.search_path)
        return next((folder for folder in folders if path.is_relative_to(folder)), None)

    def _describe(self, filename: str | None, name: str) -> str:
        """Return the full path of a user's template, the plain name of a packaged one."""
        folder = self._folder_of(filename)
        if filename is None or folder is None:
            return name
        if self._user_dir is not None and folder.is_relative_to(self._user_dir):
            return filename
        return Path(filename).relative_to(folder).as_posix()


def environment_for(language: str, search_path: Sequence[Path]) -> jinja2.Environment:
    """Return a Jinja2 environment whose templates are written in `language`: the i18n
    extension with its catalog (newstyle gettext: `_()`, `ngettext()` and
    `{% trans %}` blocks, autoescaped in HTML) and the filters worded in it.

    Templates are looked up in the folders of `search_path`, in order. Raises
    TemplateError when the language's catalog cannot be read.
    """
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(path) for path in search_path]),
        extensions=["jinja2.ext.i18n"],
        # Plain text and subjects are not HTML: escaping them would show "&amp;" to readers.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Prose in {% trans %} blocks is written over several lines; its msgid is one line.
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    environment.filters.update(template_filters(wording(language)))
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


def template_filters(words: Wording) -> dict[str, Callable[..., str]]:
    """Return the filters every template may use, by name, worded in `words`' language."""
    return {
        "days_in_words": words.days_in_words,
        "expiry": words.expiry,
        "plural": plural,
        "window_name": words.window_name,
        "window_title": words.window_title,
        "concluded": words.concluded,
        "until": words.until,
        "until_basis": words.until_basis,
        "country_note": words.country_note,
        "country_name": words.country_name,
        "status_label": words.status_label,
        "change_action": words.change_action,
        "data_warning": words.data_warning,
        "date": words.long_date,
        "month": words.month,
        "wrap": wrap_text,
    }
