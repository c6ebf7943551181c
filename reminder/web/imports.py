"""The import page: upload a table, read the dry-run report, then confirm or cancel.

The same code path as `reminder import` (importing.pipeline). Between the two steps
the uploaded file waits in the state directory (web-imports/TOKEN/NAME, web-imports
mode 0700, private to the service user), not in a process's memory: the confirm may
reach another web process of the same host. Web processes on several hosts need the
confirm to reach the host of the upload (a sticky load balancer) or one shared state
directory.

Confirm and cancel first claim the waiting folder by renaming it to TOKEN.claimed
(rename is atomic on one filesystem, and a second rename of TOKEN fails): of two
confirms (a double click, two tabs, two web processes) only one imports, and the
other finds nothing.

An upload whose dry run was shown but never confirmed or cancelled is removed at a
later upload once it is a day old (ABANDONED_AFTER). A dry-run report is read and
decided on in minutes; a day still lets someone come back to a tab left open over
lunch or overnight, while the copies of partner data (up to max_upload_megabytes each)
do not pile up for ever. A confirm after that finds nothing and says so; the table is
still where it was uploaded from.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from datetime import datetime, timedelta
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
# A token has no dot, so a claimed folder's name is never a token.
_CLAIMED = ".claimed"

#: How old a waiting upload (claimed or not) must be before an upload sweeps it away.
ABANDONED_AFTER = timedelta(days=1)


def uploads_folder(state: WebState) -> Path:
    """Return the folder uploaded tables wait in."""
    return state.config.state_dir / "web-imports"


def _private_uploads_folder(state: WebState) -> Path:
    """Return the uploads folder, made if missing; made or not, its mode is 0700.

    mkdir's mode is masked by the umask and applies to the last folder only; chmod also
    tightens a folder an older version made with the umask's mode.
    """
    folder = uploads_folder(state)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def sweep_abandoned(folder: Path, *, now: datetime) -> list[str]:
    """Remove the waiting uploads in `folder` last changed ABANDONED_AFTER before `now`.

    Each is claimed first, as a confirm claims it, so a confirm at the same moment
    either wins and imports or finds nothing. Returns the names removed.
    """
    cutoff = (now - ABANDONED_AFTER).timestamp()
    removed: list[str] = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            if entry.stat().st_mtime >= cutoff:
                continue
            claimed = entry if entry.name.endswith(_CLAIMED) else _claim(entry)
        except OSError:
            continue  # gone meanwhile: another process claimed or swept it
        if claimed is not None:
            shutil.rmtree(claimed, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _claim(folder: Path) -> Path | None:
    """Return the claimed name of the waiting `folder`, or None when another request
    claimed it first (or it never existed). Its time is set to now before it is
    renamed (a rename keeps it), so that no sweep ever sees the claimed folder of an
    import under way as old."""
    claimed = folder.with_name(folder.name + _CLAIMED)
    try:
        os.utime(folder)
        folder.rename(claimed)  # os.rename: atomic, and fails once folder is gone
    except FileNotFoundError:
        # Not there, or claimed first by another request or (over a day old) a sweep.
        return None
    return claimed


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^\w.\- ]", "_", base).strip(" .") or "table"
    return cleaned[:120]


def _claim_stored(state: WebState, token: str) -> Path | None:
    """Claim the upload waiting under `token`; return its file, or None when there is
    none (an unknown or malformed token, or another request claimed it first)."""
    if not _TOKEN.match(token):
        return None
    claimed = _claim(uploads_folder(state) / token)
    if claimed is None:
        return None
    try:
        files = sorted(claimed.iterdir())
    except FileNotFoundError:  # swept meanwhile: it was over a day old
        return None
    if not files:
        shutil.rmtree(claimed, ignore_errors=True)
        return None
    return files[0]


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
    uploads = _private_uploads_folder(state)
    await run_in_threadpool(sweep_abandoned, uploads, now=state.clock())
    token = secrets.token_urlsafe(24)
    folder = uploads / token
    folder.mkdir(mode=0o700)
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
    """POST /import/confirm: import the waiting file, as `reminder import --skip-invalid`;
    the page "missing" (404) when no file waits under the token, or another confirm or
    cancel claimed it first."""
    state = state_of(request)
    user: UserView = request.scope["reminder.user"]
    token = text_field(form, "token")
    path = _claim_stored(state, token)
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
    """POST /import/cancel: forget the waiting file (unless a confirm claimed it first)."""
    path = _claim_stored(state_of(request), text_field(form, "token"))
    if path is not None:
        shutil.rmtree(path.parent, ignore_errors=True)
    return RedirectResponse("/import", status_code=303)
