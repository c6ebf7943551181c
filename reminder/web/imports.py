"""The import page: upload a table, read the dry-run report, then confirm or cancel.

The same code path as `reminder import` (importing.pipeline). Between the two steps
the uploaded file waits in the state directory (web-imports/TOKEN/NAME, private to the
service user), not in a process's memory: the confirm may reach another web process.
"""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reminder.errors import InputError
from reminder.importing.pipeline import IngestReport, import_tables, open_tables
from reminder.store.users import UserView
from reminder.web.rendering import render
from reminder.web.sessions import text_field
from reminder.web.state import WebState, state_of

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_SUFFIXES = (".tsv", ".csv", ".txt", ".xlsx")


def uploads_folder(state: WebState) -> Path:
    """Return the folder uploaded tables wait in."""
    return state.config.state_dir / "web-imports"


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^\w.\- ]", "_", base).strip(" .") or "table"
    return cleaned[:120]


def _stored(state: WebState, token: str) -> Path | None:
    """Return the uploaded file waiting under `token`, or None."""
    if not _TOKEN.match(token):
        return None
    folder = uploads_folder(state) / token
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    return files[0] if files else None


def _run(state: WebState, path: Path, *, dry_run: bool, actor: str) -> IngestReport:
    # The agreements' source is the name the file was uploaded under, not where it waits.
    tables = open_tables([path], state.config, names=[path.name])
    return import_tables(
        state.database,
        tables,
        now=state.clock(),
        skip_invalid=True,
        dry_run=dry_run,
        actor=actor,
    )


def _shown(text: str, path: Path) -> str:
    # FILE:LINE with the name the user uploaded, not where it waits.
    return text.replace(f"{path.parent}/", "")


def _report(report: IngestReport, path: Path) -> dict[str, Any]:
    return {
        "file": path.name,
        "rows": report.rows_read - len(report.problems),
        "new": report.new,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "superseded": report.superseded,
        "warnings": [_shown(text, path) for text in report.warnings],
        "problems": [_shown(text, path) for text in report.problems],
        "written": report.written,
    }


async def import_page(request: Request) -> Response:
    """GET /import: the upload form."""
    return render(request, "import.html", {"report": None, "token": None, "problem": None})


async def upload(request: Request, form: FormData) -> Response:
    """POST /import: keep the file, show the dry run."""
    state = state_of(request)
    user: UserView = request.scope["reminder.user"]
    table = form.get("table")
    if not isinstance(table, UploadFile) or not table.filename:
        return render(
            request,
            "import.html",
            {"report": None, "token": None, "problem": "none"},
            status_code=400,
        )
    name = _safe_name(table.filename)
    if not name.lower().endswith(_SUFFIXES):
        return render(
            request,
            "import.html",
            {"report": None, "token": None, "problem": "kind"},
            status_code=400,
        )
    token = secrets.token_urlsafe(24)
    folder = uploads_folder(state) / token
    folder.mkdir(mode=0o700, parents=True)
    path = folder / name
    with path.open("xb") as file:
        shutil.copyfileobj(table.file, file)
    try:
        report = await run_in_threadpool(_run, state, path, dry_run=True, actor=user.name)
    except InputError as error:
        shutil.rmtree(folder, ignore_errors=True)
        problems = [_shown(problem, path) for problem in error.problems]
        context: dict[str, Any] = {"report": None, "token": None, "problem": "file"}
        return render(request, "import.html", {**context, "problems": problems}, status_code=400)
    context = {"report": _report(report, path), "token": token, "problem": None}
    return render(request, "import.html", context)


async def confirm(request: Request, form: FormData) -> Response:
    """POST /import/confirm: import the waiting file, as `reminder import --skip-invalid`."""
    state = state_of(request)
    user: UserView = request.scope["reminder.user"]
    token = text_field(form, "token")
    path = _stored(state, token)
    if path is None:
        return render(request, "error.html", {"error": "missing"}, status_code=404)
    try:
        report = await run_in_threadpool(_run, state, path, dry_run=False, actor=user.name)
    except InputError as error:
        problems = [_shown(problem, path) for problem in error.problems]
        failed: dict[str, Any] = {"report": None, "token": None, "problem": "file"}
        return render(request, "import.html", {**failed, "problems": problems}, status_code=400)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    return render(
        request, "import.html", {"report": _report(report, path), "token": None, "problem": None}
    )


async def cancel(request: Request, form: FormData) -> Response:
    """POST /import/cancel: forget the waiting file."""
    path = _stored(state_of(request), text_field(form, "token"))
    if path is not None:
        shutil.rmtree(path.parent, ignore_errors=True)
    return RedirectResponse("/import", status_code=303)
