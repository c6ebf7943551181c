"""The floor of (g): a bare Starlette + Jinja2 app serving the same 50 rows from a list.

    python -m bench.web_floor DATABASE CONFIG PORT

DATABASE is the SQLite file of the size measured: the 50 agreements the agreements page
shows first (every agreement, by effective-until then id) are read once, at start,
into a list, and the filters' suggestions are read from CONFIG's [[coordinators]] and rendered once.
Every request renders that list with one plain Jinja2 template, autoescaped, into the
same document our page sends an English-speaking admin: the same markup for every row
(the link, the date, the days left, the status badge, the warnings), the same header,
filter form and pager around it. The bench checks that the two documents are the same
size. It is served by uvicorn with the settings `reminder web` uses.

So the difference is what our page adds to writing those bytes: the session or proxy
check and the user's row, the query and the count, the filters read from the request,
and the reader's language (gettext catalogs and Babel's dates).
"""

from __future__ import annotations

import sqlite3
import sys
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE_ROWS = 50


STATUSES = ("active", "expiring", "expired", "superseded", "retired")


def first_rows(database: str) -> tuple[list[dict[str, Any]], int]:
    """Return the PAGE_ROWS agreements the page lists first, and how many there are."""
    connection = sqlite3.connect(database)
    try:
        cursor = connection.execute(
            "SELECT id, partner, country, programme, effective_until, approximate, "
            "lifecycle, data_warnings FROM agreements ORDER BY effective_until, id LIMIT ?",
            (PAGE_ROWS,),
        )
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor]
        total = connection.execute("SELECT count(*) FROM agreements").fetchone()[0]
        return rows, total
    finally:
        connection.close()


def _shown(row: dict[str, Any], today: date, horizon: date) -> dict[str, Any]:
    """Return what the page shows of `row` on `today`: its status and days left."""
    until = date.fromisoformat(row["effective_until"])
    left = (until - today).days
    if row["lifecycle"] != "active":
        status, days = row["lifecycle"], ""
    elif until < today:
        status, days = "expired", f"expired {-left} day{'s' if -left != 1 else ''} ago"
    else:
        status = "expiring" if until <= horizon else "active"
        days = f"{left} day{'s' if left != 1 else ''} left"
    warnings = [line for line in row["data_warnings"].splitlines() if line]
    return {**row, "until": until, "status": status, "days": days, "warnings": warnings}


def build_app(rows: list[dict[str, Any]], total: int, config: dict[str, Any]) -> Starlette:
    """Return the app: GET / renders `rows` as the agreements page's first page."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True
    )
    template = environment.get_template("web_floor.html")
    coordinators = config.get("coordinators", [])
    countries = sorted({code for c in coordinators for code in c["countries"] if code != "*"})
    programmes = sorted(
        {name for c in coordinators for name in c["programmes"] if name != "*"}
        | {config.get("agreements", {}).get("default_programme", "Erasmus+ KA131")}
    )
    longest_window = max(config["reminders"]["windows"])
    # The suggestions depend on the config alone: rendered once, as our page does.
    suggestions = markupsafe.Markup(  # rendered by an autoescaping environment
        environment.get_template("web_floor_suggestions.html").render(
            countries=countries, programmes=programmes, coordinators=coordinators
        )
    )

    async def page(request: Request) -> HTMLResponse:
        today = date.today()  # noqa: DTZ011 - the page's day, as ours takes it
        horizon = today + timedelta(days=longest_window)
        return HTMLResponse(
            template.render(
                rows=[_shown(row, today, horizon) for row in rows],
                total=total,
                pages=-(-total // PAGE_ROWS),
                today=today,
                statuses=STATUSES,
                suggestions=suggestions,
            )
        )

    return Starlette(routes=[Route("/", page)])


def main() -> None:
    """Serve the floor app on 127.0.0.1:PORT until stopped."""
    database, config_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    rows, total = first_rows(database)
    uvicorn.run(
        build_app(rows, total, config),
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
