"""The import page's waiting uploads: claimed once by a confirm or cancel, swept when
abandoned, private to the service user."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e.clirun import SAMPLE
from httpx import Response
from starlette.testclient import TestClient
from web.webapp import Site, csrf_of, log_in, make_site

from reminder import store
from reminder.store.database import Database
from reminder.web import imports
from reminder.web.state import WebState


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Site:
    return make_site(db, tmp_path)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Run the test under the umask most systems have, which leaves folders 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def uploads(site: Site) -> Path:
    return site.config.state_dir / "web-imports"


def upload_sample(client: TestClient) -> tuple[str, str]:
    """Upload the sample table; return the upload's token and the page's CSRF token."""
    csrf = csrf_of(client.get("/import").text)
    with SAMPLE.open("rb") as table:
        report = client.post(
            "/import",
            data={"csrf_token": csrf},
            files={"table": ("agreements-2022.tsv", table, "text/tab-separated-values")},
        )
    assert report.status_code == 200, report.text
    found = re.search(r'name="token" value="([^"]+)"', report.text)
    assert found is not None
    return found.group(1), csrf


def imported_events(site: Site) -> int:
    """Return how many "imported" events the agreements' histories hold."""
    with site.database.session(read_only=True) as session:
        return sum(
            1
            for view in store.iter_agreement_views(session)
            for event in store.agreement_history(session, view.id)
            if event.action == "imported"
        )


def count(site: Site) -> int:
    with site.database.session(read_only=True) as session:
        return store.count_agreements(session)


def test_a_second_confirm_of_one_upload_finds_nothing(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    events_before, agreements_before = imported_events(site), count(site)
    token, csrf = upload_sample(client)

    first = client.post("/import/confirm", data={"csrf_token": csrf, "token": token})
    assert first.status_code == 200 and "Imported" in first.text
    imported, events = count(site), imported_events(site)
    assert imported > agreements_before and events > events_before

    second = client.post("/import/confirm", data={"csrf_token": csrf, "token": token})
    assert second.status_code == 404
    assert "There is no such page or agreement." in second.text
    assert (count(site), imported_events(site)) == (imported, events)


def confirm_while_another_posts(
    site: Site, monkeypatch: pytest.MonkeyPatch, action: str
) -> tuple[Response, list[int]]:
    """Confirm an upload from one session while a second session (a second web
    process: its own app and login, the same database and folder) posts `action` for
    the same upload just as the first is about to import it. Return the confirm's
    response and the status the second post got."""
    first, second = site.client(), site.client()
    log_in(first, "office@example.edu")
    log_in(second, "office@example.edu")
    second_csrf = csrf_of(second.get("/import").text)
    token, csrf = upload_sample(first)
    real_run = imports._run
    answers: list[int] = []

    def run_after_a_second_post(state: WebState, path: Path, **options: Any) -> Any:
        if not options["dry_run"] and not answers:
            data = {"csrf_token": second_csrf, "token": token}
            answers.append(second.post(action, data=data, follow_redirects=False).status_code)
        return real_run(state, path, **options)

    monkeypatch.setattr(imports, "_run", run_after_a_second_post)
    return first.post("/import/confirm", data={"csrf_token": csrf, "token": token}), answers


def test_a_confirm_while_another_imports_the_same_upload_finds_nothing(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_before = imported_events(site)
    done, answers = confirm_while_another_posts(site, monkeypatch, "/import/confirm")

    assert done.status_code == 200 and "Imported" in done.text
    assert answers == [404]
    # Each new agreement was imported once: one "imported" event each.
    assert imported_events(site) - events_before == count(site) - 3


def test_a_cancel_while_a_confirm_imports_leaves_the_import_alone(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    done, answers = confirm_while_another_posts(site, monkeypatch, "/import/cancel")

    assert answers == [303]
    assert done.status_code == 200 and "Imported" in done.text
    assert count(site) > 3
    assert list(uploads(site).iterdir()) == []


def test_an_abandoned_upload_is_swept_at_the_next_upload(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    now = site.clock().timestamp()
    old, fresh = upload_sample(client)[0], upload_sample(client)[0]
    # A claimed folder a crashed process left behind, as old as the abandoned upload.
    crashed = uploads(site) / "left-by-a-crash.claimed"
    crashed.mkdir()
    (crashed / "t.tsv").write_text("x")
    two_days, one_hour = now - 2 * 86400, now - 3600
    for folder, when in ((old, two_days), (crashed.name, two_days), (fresh, one_hour)):
        os.utime(uploads(site) / folder, (when, when))

    newest, csrf = upload_sample(client)

    assert sorted(path.name for path in uploads(site).iterdir()) == sorted([fresh, newest])
    gone = client.post("/import/confirm", data={"csrf_token": csrf, "token": old})
    assert gone.status_code == 404
    kept = client.post("/import/confirm", data={"csrf_token": csrf, "token": fresh})
    assert kept.status_code == 200 and "Imported" in kept.text


def test_an_upload_just_under_a_day_old_is_kept(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    token = upload_sample(client)[0]
    when = (site.clock() - imports.ABANDONED_AFTER + timedelta(minutes=1)).timestamp()
    os.utime(uploads(site) / token, (when, when))
    upload_sample(client)
    assert token in {path.name for path in uploads(site).iterdir()}


@pytest.mark.usefixtures("umask_022")
def test_the_uploads_folder_and_each_upload_are_private(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    token = upload_sample(client)[0]
    assert stat.S_IMODE(uploads(site).stat().st_mode) == 0o700
    assert stat.S_IMODE((uploads(site) / token).stat().st_mode) == 0o700


@pytest.mark.usefixtures("umask_022")
def test_an_uploads_folder_an_older_version_made_is_made_private(site: Site) -> None:
    uploads(site).mkdir(mode=0o755, parents=True)
    client = site.client()
    log_in(client, "office@example.edu")
    upload_sample(client)
    assert stat.S_IMODE(uploads(site).stat().st_mode) == 0o700


def test_a_sweep_at_the_moment_of_a_claim_leaves_the_claimed_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worst moment: another upload's sweep runs right as a confirm renames an upload
    # over a day old. The claim gives the folder the present time before the rename
    # (which keeps it), so the sweep never sees the claimed folder as abandoned.
    folder = tmp_path / "a-waiting-upload-token-0123"
    folder.mkdir()
    (folder / "table.tsv").write_text("x", encoding="utf-8")
    two_days_ago = datetime.now(UTC).timestamp() - 2 * 86400
    os.utime(folder, (two_days_ago, two_days_ago))
    real_rename = Path.rename
    swept: list[list[str]] = []

    def rename_then_sweep(self: Path, target: Path) -> Path:
        renamed = real_rename(self, target)
        swept.append(imports.sweep_abandoned(tmp_path, now=datetime.now(UTC)))
        return renamed

    monkeypatch.setattr(Path, "rename", rename_then_sweep)
    claimed = imports._claim(folder)

    assert claimed is not None and swept == [[]]
    assert (claimed / "table.tsv").read_text(encoding="utf-8") == "x"
