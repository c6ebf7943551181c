"""What every page handler needs, built once per app: the config, the database, the
Jinja2 environments (one per language, built on first use and kept), the clock, the
trusted proxies and the routing rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.requests import Request

from reminder.config.languages import SOURCE_LANGUAGE
from reminder.config.schema import Config
from reminder.domain.reminder_digest import Router
from reminder.mail.i18n import translations, wording
from reminder.runs.context import Context
from reminder.store.database import Database
from reminder.web.guards import Networks, parse_networks
from reminder.web.list_rows import RowRenderer, row_renderer

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")


def build_environment(language: str = SOURCE_LANGUAGE) -> Environment:
    """Return the pages' Jinja2 environment in `language`: autoescaped, strict, with
    gettext calls (`_()`, `ngettext()`, `{% trans %}`, newstyle) answered by that
    language's catalog, and filters that write dates (`date`), the days left
    (`days_left`) and data-quality warnings (`data_warning`) in it, as the digests do.

    Raises TemplateError when the language's catalog cannot be read.
    """
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        # The templates are part of the package: they change with an upgrade, which
        # restarts the process, so no page needs to stat them to see if they changed.
        auto_reload=False,
    )
    # As in the e-mail templates (and babel.cfg): a {% trans %} block's msgid is one line.
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    words = wording(language)
    environment.filters["date"] = words.long_date
    environment.filters["data_warning"] = words.data_warning
    environment.filters["days_left"] = words.days_left_words
    environment.globals["language"] = language
    environment.filters["urlencode_page"] = _with_page
    return environment


def _with_page(query: Mapping[str, str], page: int) -> str:
    """Return the query string of `query` on page `page` (a link to another page)."""
    return urlencode({**query, "page": str(page)})


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    """What the composition root (the CLI) hands the pages, so that they call the same
    functions as the commands: the runs' Context (`preview`, `outbox retry`), `status
    --json`'s report and `health`'s verdict (healthy, line), both as of the `now` they
    are given (the app's clock, WebState.clock)."""

    context: Callable[[], Context]
    status: Callable[[datetime], dict[str, Any]]
    health: Callable[[datetime], tuple[bool, str]]


@dataclass
class WebState:
    """The app's shared, read-only parts; `clock` is replaceable in tests."""

    config: Config
    database: Database
    services: Services
    clock: Callable[[], datetime] = _utc_now
    environments: dict[str, Environment] = field(init=False, default_factory=dict)
    #: The list's row writers, one per language, each keeping the rows it wrote.
    row_renderers: dict[str, RowRenderer] = field(init=False, default_factory=dict)
    #: The filters' suggestions, rendered on the list's first view (web.agreements).
    filter_lists: Markup | None = field(init=False, default=None)
    trusted: Networks = field(init=False)
    router: Router = field(init=False)

    def __post_init__(self) -> None:
        self.trusted = parse_networks(self.config.web.trusted_proxies)
        self.router = Router(self.config.coordinators, self.config.reminders.default_recipient)

    def environment(self, language: str) -> Environment:
        """Return the pages' environment in `language`, built on its first page and kept
        (templates compile once per language, not once per request)."""
        found = self.environments.get(language)
        if found is None:
            found = self.environments[language] = build_environment(language)
        return found

    def row_renderer(self, language: str) -> RowRenderer:
        """Return the writer of the agreements list's rows in `language` (list_rows)."""
        found = self.row_renderers.get(language)
        if found is None:
            found = self.row_renderers[language] = row_renderer(self.environment(language))
        return found

    def today(self) -> date:
        """Return today in the configured time zone."""
        return self.clock().astimezone(self.config.zone).date()


def state_of(request: Request) -> WebState:
    """Return the WebState of the app serving `request`."""
    state: WebState = request.app.state.web
    return state
