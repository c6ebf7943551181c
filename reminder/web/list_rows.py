"""The rows of the agreements list as HTML: each rendered once per language and kept.

A row is written from its key alone: the agreement as the page read it (every column,
a named tuple), its status and days left on the day shown, and the reader's language
(one cache per language). An agreement that changed is a different key, so a kept row
is never stale, and the page still reads its rows from the database at every view.

Why keep them: Jinja2 took most of the list's time writing 50 rows through the macros
and gettext each row uses; the bench's served throughput of the page (part g) needs
them written once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from jinja2 import Environment
from markupsafe import Markup

from reminder.domain.records import AgreementView
from reminder.domain.windows import Status

#: Rows kept per language: a few hundred pages of the list, about 4 MB.
ROWS_KEPT = 4096

RowRenderer = Callable[[AgreementView, Status, int], Markup]


def row_renderer(environment: Environment) -> RowRenderer:
    """Return a function writing one row of the list (`agreement_row.html`) in
    `environment`'s language, keeping the last ROWS_KEPT rows it wrote.

    The function takes the agreement, its status and its days left, and returns the
    row's markup. Raises TemplateError when the template cannot be loaded.
    """
    template = environment.get_template("agreement_row.html")

    @functools.lru_cache(maxsize=ROWS_KEPT)
    def render_row(agreement: AgreementView, status: Status, days_left: int) -> Markup:
        # The environment autoescapes: what it renders is markup already, safe to mark so.
        return Markup(  # noqa: S704
            template.render(a=agreement, status=status, days_left=days_left)
        )

    return render_row
