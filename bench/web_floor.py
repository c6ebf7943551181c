"""The floor of (g): a bare Starlette + Jinja2 app serving 50 rows from a list in memory.

    python -m bench.web_floor DATABASE PORT

DATABASE is the SQLite file of the size measured: the 50 agreements that end first (the
rows the agreements page shows first) are read once, at start, into a list; every request
renders that list with one Jinja2 template, autoescaped. It is served by uvicorn with the
settings `reminder web` uses, so the difference is what our page adds: the session or
proxy check, the query, the filters and the page's own template.
"""

from __future__ import annotations

import sqlite3
import sys

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE_ROWS = 50

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Agreements</title></head>
<body><table>
<thead><tr><th>Partner</th><th>Country</th><th>Programme</th><th>Effective until</th></tr></thead>
<tbody>
{% for row in rows %}<tr><td>{{ row.partner }}</td><td>{{ row.country }}</td>
<td>{{ row.programme }}</td><td>{{ row.effective_until }}</td></tr>
{% endfor %}</tbody></table></body></html>
"""


def first_rows(database: str) -> list[dict[str, str]]:
    """Return the PAGE_ROWS active agreements that end first, as the page lists them."""
    connection = sqlite3.connect(database)
    try:
        cursor = connection.execute(
            "SELECT partner, country, programme, effective_until FROM agreements "
            "WHERE lifecycle = 'active' ORDER BY effective_until, id LIMIT ?",
            (PAGE_ROWS,),
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, map(str, row), strict=True)) for row in cursor]
    finally:
        connection.close()


def build_app(rows: list[dict[str, str]]) -> Starlette:
    """Return the app: GET / renders `rows`."""
    template = jinja2.Environment(autoescape=True).from_string(TEMPLATE)

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(template.render(rows=rows))

    return Starlette(routes=[Route("/", page)])


def main() -> None:
    """Serve the floor app on 127.0.0.1:PORT until stopped."""
    database, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(
        build_app(first_rows(database)),
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
