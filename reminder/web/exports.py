"""CSV and XLSX exports of the agreements list: every agreement the filters select (all
pages, in the list's order), with the columns the list shows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from starlette.concurrency import run_in_threadpool
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


#: What a spreadsheet program runs as a formula when a CSV cell starts with it (a tab or
#: carriage return before one is skipped by some): OWASP's list.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(value: object) -> object:
    # A CSV cell is typed by the program that opens it: an imported partner name must
    # never run as a formula in the office's spreadsheet, so it is quoted as text.
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _xlsx_cells(sheet: WriteOnlyWorksheet, row: list[object]) -> list[object]:
    # A workbook types its cells, and a text cell never runs. openpyxl types a string
    # starting with "=" as a formula: that one is typed as text explicitly, the others
    # are stored as they are (no quote added to the name).
    cells: list[object] = []
    for value in row:
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            value = cell
        cells.append(value)
    return cells


async def export_csv(request: Request) -> Response:
    """GET /export.csv: the filtered list as CSV (UTF-8 with a BOM, for Excel)."""
    state = state_of(request)

    def lines() -> Iterator[str]:
        # A plain iterator: Starlette reads it in its thread pool, off the event loop.
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(HEADER)
        yield "\ufeff" + buffer.getvalue()
        for row in _rows(state, request):
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([_csv_safe(value) for value in row])
            yield buffer.getvalue()

    headers = {"content-disposition": 'attachment; filename="agreements.csv"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


def _workbook(state: WebState, request: Request) -> bytes:
    """Return the filtered list as the bytes of an .xlsx workbook."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Agreements")
    sheet.append(HEADER)
    for row in _rows(state, request):
        sheet.append(_xlsx_cells(sheet, row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def export_xlsx(request: Request) -> Response:
    """GET /export.xlsx: the filtered list as an Excel workbook, built in the thread pool
    (`reminder serve` runs its schedule in this event loop)."""
    content = await run_in_threadpool(_workbook, state_of(request), request)
    headers = {"content-disposition": 'attachment; filename="agreements.xlsx"'}
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(content, media_type=media, headers=headers)
