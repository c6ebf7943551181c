"""CSV and XLSX exports of the agreements list: every agreement the filters select (all
pages, in the list's order), with the columns the list shows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

from openpyxl import Workbook
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from reminder.store.agreement_pages import agreement_rows
from reminder.web.agreements import listed, page_filters, parse_day
from reminder.web.state import WebState, state_of

#: Rows read from the database at a time while exporting.
EXPORT_BATCH = 1000
HEADER = [
    "id",
    "partner",
    "country",
    "country_code",
    "programme",
    "concluded",
    "effective_until",
    "approximate",
    "days_left",
    "status",
    "coordinator_email",
    "warnings",
]


def _rows(state: WebState, request: Request) -> Iterator[list[object]]:
    query = dict(request.query_params)
    as_of = parse_day(query.get("as_of", "")) or state.today()
    filters = page_filters(state, query, as_of)
    after: tuple[date, int] | None = None
    while True:
        with state.database.session(read_only=True) as session:
            views = agreement_rows(session, filters, limit=EXPORT_BATCH, after=after)
        for view in views:
            row = listed(state, view, as_of)
            yield [
                view.id,
                view.partner,
                view.country,
                view.country_code or "",
                view.programme,
                view.concluded.isoformat(),
                view.effective_until.isoformat(),
                "yes" if view.approximate else "",
                row["days_left"],
                row["status"].value,
                view.coordinator_email or "",
                "; ".join(view.data_warnings),
            ]
        if len(views) < EXPORT_BATCH:
            return
        after = (views[-1].effective_until, views[-1].id)


def _spreadsheet_safe(value: object) -> object:
    # A cell starting with = + - @ is a formula to Excel: an imported partner name must
    # never run as one in the office's spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


async def export_csv(request: Request) -> Response:
    """GET /export.csv: the filtered list as CSV (UTF-8 with a BOM, for Excel)."""
    state = state_of(request)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(HEADER)
        yield "\ufeff" + buffer.getvalue()
        for row in _rows(state, request):
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([_spreadsheet_safe(value) for value in row])
            yield buffer.getvalue()

    headers = {"content-disposition": 'attachment; filename="agreements.csv"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


async def export_xlsx(request: Request) -> Response:
    """GET /export.xlsx: the filtered list as an Excel workbook."""
    state = state_of(request)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Agreements")
    sheet.append(HEADER)
    for row in _rows(state, request):
        sheet.append([_spreadsheet_safe(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    headers = {"content-disposition": 'attachment; filename="agreements.xlsx"'}
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(buffer.getvalue(), media_type=media, headers=headers)
