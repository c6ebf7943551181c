"""The pages, on SQLite, PostgreSQL and MariaDB: the list and its filters, pages and
exports; one agreement and its actions; import; mail; status; the calendar feed."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from e2e.clirun import SAMPLE
from factories import agreement_input
from openpyxl import load_workbook
from sqlalchemy import select
from starlette.testclient import TestClient
from web.webapp import Site, csrf_of, history, log_in, make_site

from reminder import store
from reminder.store import agreement_pages as store_pages
from reminder.store import apply_import
from reminder.store.database import Database
from reminder.store.user_models import WebUser
from reminder.web import accounts, exports
from reminder.web import agreements as agreement_pages


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Site:
    return make_site(db, tmp_path)


def partners(html: str) -> list[str]:
    return re.findall(r'<a href="/agreements/\d+" dir="auto">([^<]+)</a>', html)


def test_list_is_sorted_by_effective_until_and_filtered(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    page = client.get("/").text
    assert partners(page) == [
        "Tbilisi State University",
        "Lahore University",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    ]
    assert 'class="status status-expiring"' in page  # 2026-05-01 is 60 days ahead
    assert partners(client.get("/?country=PK").text) == ["Lahore University"]
    assert partners(client.get("/?q=tbilisi").text) == ["Tbilisi State University"]
    assert partners(client.get("/?q=%25").text) == []  # a LIKE wildcard is a character
    routed = client.get("/?coordinator=mehmet@example.edu").text
    assert partners(routed) == ["Lahore University"]
    # As of a later day, the first has lapsed.
    later = client.get("/?as_of=2026-05-02&status=expired").text
    assert partners(later) == ["Tbilisi State University"]


def test_list_reads_one_page(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agreement_pages, "PAGE_SIZE", 2)
    client = site.client()
    log_in(client, "office@example.edu")
    first = client.get("/").text
    assert len(partners(first)) == 2 and "Page 1 of 2" in first
    second = client.get("/?page=2").text
    assert partners(second) == ["&lt;script&gt;alert(1)&lt;/script&gt;"]
    assert 'rel="prev"' in second and 'rel="next"' not in second


def test_a_long_list_is_counted_up_to_a_limit(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    # Counting every match of a large table would read it all on every view: past the
    # limit the page says "more than" and offers the next page without a last one.
    monkeypatch.setattr(agreement_pages, "PAGE_SIZE", 1)
    monkeypatch.setattr(store_pages, "COUNT_LIMIT", 2)
    client = site.client()
    log_in(client, "office@example.edu")
    first = client.get("/").text
    assert "(more than 2)" in first and "Page 1<" in first and 'rel="next"' in first
    last = client.get("/?page=3").text
    assert "(3)" in last and "Page 3 of 3" in last and 'rel="next"' not in last


def test_a_kept_row_of_the_list_is_never_stale(site: Site) -> None:
    # The list writes each row once and keeps it (web.list_rows): a row amended, or seen
    # on a later day or in another language, must be written anew.
    client = site.client()
    log_in(client, "office@example.edu")
    number = site.ids["Tbilisi State University"]
    row = re.compile(rf'<a href="/agreements/{number}".*?</tr>', re.DOTALL)
    first = row.search(client.get("/").text)
    assert first is not None and "1 May 2026" in first.group() and "60 days left" in first.group()
    token = csrf_of(client.get(f"/agreements/{number}").text)
    amended = client.post(
        f"/agreements/{number}/amend",
        data={"until": "2027-05-01", "csrf_token": token},
        follow_redirects=False,
    )
    assert amended.status_code == 303
    second = row.search(client.get("/").text)
    assert second is not None and "1 May 2027" in second.group()
    assert "425 days left" in second.group() and "status-active" in second.group()
    later = row.search(client.get("/?as_of=2027-05-03").text)
    assert later is not None and "expired 2 days ago" in later.group()
    turkish = row.search(client.get("/", headers={"Accept-Language": "tr"}).text)
    assert turkish is not None and "1 Mayıs 2027" in turkish.group()
    assert "425 gün kaldı" in turkish.group()


def test_exports_go_through_every_batch(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    # Batches follow the last row read (keyset), never an OFFSET past rows read before.
    monkeypatch.setattr(exports, "EXPORT_BATCH", 1)
    client = site.client()
    log_in(client, "office@example.edu")
    rows = list(csv.reader(io.StringIO(client.get("/export.csv").text.lstrip("\ufeff"))))
    assert [row[1] for row in rows[1:]] == [
        "Tbilisi State University",
        "Lahore University",
        "<script>alert(1)</script>",
    ]


@pytest.mark.parametrize(
    "path", ["/?page=%C2%B2", "/?page=99999999999999999999999", "/agreements/%C2%B2"]
)
def test_numbers_that_are_not_plain_digits_are_no_error(site: Site, path: str) -> None:
    # "²" is a digit to str.isdigit(), and twenty digits overflow the database: neither
    # may become a 500.
    client = site.client()
    log_in(client, "office@example.edu")
    assert client.get(path).status_code in (200, 404)
    assert client.get("/mail/reminders/%C2%B2").status_code == 404


def test_renew_with_years_that_are_not_plain_digits_is_said_beside_the_field(
    site: Site,
) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    number = site.ids["Tbilisi State University"]
    page = client.get(f"/agreements/{number}")
    response = client.post(
        f"/agreements/{number}/renew",
        data={"concluded": "2026-02-20", "years": "²", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 400 and "not a whole number of years" in response.text


def test_a_csv_export_imports_back(site: Site) -> None:
    # The export's own headers ("concluded", "effective_until") are read by the importer.
    client = site.client()
    log_in(client, "office@example.edu")
    exported = client.get("/export.csv").content
    token = csrf_of(client.get("/import").text)
    report = client.post(
        "/import",
        data={"csrf_token": token},
        files={"table": ("agreements.csv", exported, "text/csv")},
    )
    assert report.status_code == 200, report.text
    assert "What the import would do" in report.text


def test_exported_cells_never_run_as_formulas_and_keep_their_text(site: Site) -> None:
    formula, dash = '=HYPERLINK("http://x.invalid","y")', "-Riga University"
    with site.database.session() as session:
        rows = [agreement_input(formula), agreement_input(dash, country="Latvia")]
        apply_import(session, rows, now=site.clock(), actor="tester")
    client = site.client()
    log_in(client, "office@example.edu")
    workbook = load_workbook(io.BytesIO(client.get("/export.xlsx").content))
    sheet = workbook.active
    assert sheet is not None
    cells = {cell.value: cell.data_type for row in sheet.iter_rows(min_row=2) for cell in row}
    # A workbook types its cells: both are text, written as they are.
    assert cells[formula] == "s" and cells[dash] == "s"
    text = client.get("/export.csv").text
    # A CSV does not: there, both are quoted so that a spreadsheet reads them as text.
    assert f"'{dash}" in text and "'=HYPERLINK" in text


def test_exports_hold_what_the_filters_select(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    response = client.get("/export.csv?country=PK")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "partner", "country"]
    assert [row[1] for row in rows[1:]] == ["Lahore University"]
    workbook = load_workbook(io.BytesIO(client.get("/export.xlsx").content), read_only=True)
    values = [list(row) for row in workbook.active.iter_rows(values_only=True)]  # type: ignore[union-attr]
    assert [row[1] for row in values[1:]] == [
        "Tbilisi State University",
        "Lahore University",
        "<script>alert(1)</script>",
    ]


def test_renew_from_the_page_records_the_web_user(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    number = site.ids["Tbilisi State University"]
    page = client.get(f"/agreements/{number}")
    response = client.post(
        f"/agreements/{number}/renew",
        data={"concluded": "2026-02-20", "years": "5", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    shown = client.get(response.headers["location"]).text
    assert "Office Admin" in shown and "superseded" in shown
    assert history(site.database, number)[-1] == ("Office Admin", "superseded")
    with site.database.session(read_only=True) as session:
        renewed = store.get_agreement_view(session, number)
    assert renewed is not None and renewed.superseded_by_id is not None


def test_errors_are_shown_beside_the_field(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    number = site.ids["Tbilisi State University"]
    token = csrf_of(client.get(f"/agreements/{number}").text)
    response = client.post(
        f"/agreements/{number}/renew", data={"concluded": "someday", "csrf_token": token}
    )
    assert response.status_code == 400
    assert re.search(r'id="renew-concluded"[^>]*>\s*<p class="field-problem"', response.text)
    response = client.post(
        f"/agreements/{number}/retire", data={"reason": " ", "csrf_token": token}
    )
    assert response.status_code == 400
    assert "say why the agreement is not renewed" in response.text
    assert "Traceback" not in response.text


def test_snooze_and_clear(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    number = site.ids["Lahore University"]
    token = csrf_of(client.get(f"/agreements/{number}").text)
    snoozed = site.clock().date() + timedelta(days=20)
    assert (
        client.post(
            f"/agreements/{number}/snooze",
            data={"until": snoozed.isoformat(), "csrf_token": token},
        ).status_code
        == 200
    )
    page = client.get(f"/agreements/{number}").text
    # The page writes the day for readers (the office's English: "22 March 2026").
    assert f"{snoozed.day} {snoozed:%B %Y}" in page and 'name="clear"' in page
    client.post(f"/agreements/{number}/snooze", data={"clear": "1", "csrf_token": token})
    with site.database.session(read_only=True) as session:
        view = store.get_agreement_view(session, number)
    assert view is not None and view.snoozed_until is None


def test_import_dry_run_then_confirm(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    token = csrf_of(client.get("/import").text)
    with SAMPLE.open("rb") as table:
        report = client.post(
            "/import",
            data={"csrf_token": token},
            files={"table": ("agreements-2022.tsv", table, "text/tab-separated-values")},
        )
    assert report.status_code == 200
    assert "What the import would do" in report.text
    waiting = list((site.config.state_dir / "web-imports").iterdir())
    assert len(waiting) == 1, "the upload waits in the state directory"
    with site.database.session(read_only=True) as session:
        before = store.count_agreements(session)
    assert before == 3  # nothing written by the dry run
    upload = re.search(r'name="token" value="([^"]+)"', report.text)
    assert upload is not None
    done = client.post("/import/confirm", data={"csrf_token": token, "token": upload.group(1)})
    assert done.status_code == 200 and "Imported" in done.text
    with site.database.session(read_only=True) as session:
        assert store.count_agreements(session) > before
        newest = max(view.id for view in store.iter_agreement_views(session))
        details = [event.details for event in store.agreement_history(session, newest)]
    # The history names the uploaded file, never the folder it waited in on the server.
    assert details and details[0].startswith("from agreements-2022.tsv:"), details
    assert list((site.config.state_dir / "web-imports").iterdir()) == []


def test_import_cancel_and_bad_file(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    token = csrf_of(client.get("/import").text)
    report = client.post(
        "/import",
        data={"csrf_token": token},
        files={"table": ("t.tsv", SAMPLE.read_bytes(), "text/plain")},
    )
    upload = re.search(r'name="token" value="([^"]+)"', report.text)
    assert upload is not None
    client.post("/import/cancel", data={"csrf_token": token, "token": upload.group(1)})
    assert list((site.config.state_dir / "web-imports").iterdir()) == []
    bad = client.post(
        "/import",
        data={"csrf_token": token},
        files={"table": ("empty.tsv", b"", "text/plain")},
    )
    assert bad.status_code == 400 and "empty.tsv: the file is empty" in bad.text
    assert "web-imports" not in bad.text


def test_import_is_for_admins(site: Site) -> None:
    client = site.client()
    log_in(client, "ayse@example.edu")
    assert client.get("/import").status_code == 403
    token = csrf_of(client.get("/").text)
    response = client.post(
        "/import", data={"csrf_token": token}, files={"table": ("t.tsv", b"x", "text/plain")}
    )
    assert response.status_code == 403


def test_mail_page_previews_and_retry(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    page = client.get("/mail").text
    assert "/mail/reminders/0" in page  # Tbilisi is within its 90-day window
    preview = client.get("/mail/reminders/0")
    assert preview.status_code == 200
    assert "Tbilisi State University" in preview.text
    assert "script-src" not in preview.headers["content-security-policy"]
    assert client.get("/mail/reminders/99").status_code == 404
    retried = client.post("/mail/retry", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert retried.status_code == 303 and retried.headers["location"] == "/mail?retried=0"


def test_status_page(site: Site) -> None:
    client = site.client()
    log_in(client, "viewer@example.edu")
    page = client.get("/status").text
    assert "No `reminder serve` is running." in page
    assert "Reminders" in page and "0 8 * * *" in page


FEED = re.compile(r'value="http://127\.0\.0\.1:8080(/calendar/([^"]+)\.ics)"')


def make_feed(client: TestClient) -> tuple[str, str]:
    """Make a new feed address on the calendar page; return its path and the page."""
    page = client.get("/calendar").text
    made = client.post("/calendar/reset", data={"csrf_token": csrf_of(page)})
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"  # the page holds the secret
    assert "shown only now" in made.text
    feed = FEED.search(made.text)
    assert feed is not None
    return feed.group(1), made.text


def test_calendar_feed_is_shown_once_and_works(site: Site) -> None:
    client = site.client()
    log_in(client, "ayse@example.edu")
    first = client.get("/calendar").text
    assert "You have no calendar address yet." in first and ".ics" not in first
    path, made = make_feed(client)
    assert "the old one no longer works" not in made  # there was no old one
    calendar = site.client().get(path)  # no login: the token is the key
    assert calendar.status_code == 200
    assert calendar.headers["content-type"].startswith("text/calendar")
    assert "Tbilisi State University" in calendar.text
    assert "Lahore University" not in calendar.text  # routed to Mehmet
    # Shown once: the page no longer has it, and says how to get a new one.
    again = client.get("/calendar").text
    assert path not in again and ".ics" not in again
    assert "If you no longer have it, make a new one" in again


def test_the_database_keeps_no_calendar_token(site: Site) -> None:
    client = site.client()
    log_in(client, "ayse@example.edu")
    path, _ = make_feed(client)
    token = path.removeprefix("/calendar/").removesuffix(".ics")
    with site.database.session(read_only=True) as session:
        table = WebUser.__table__
        row = session.execute(select(table).where(table.c.email == "ayse@example.edu")).one()
    stored = [str(value) for value in row]
    assert not any(token in value for value in stored), stored
    assert row.calendar_token_digest == accounts.token_digest(token)


def test_calendar_reset_ends_the_old_address(site: Site) -> None:
    client = site.client()
    log_in(client, "ayse@example.edu")
    old, _ = make_feed(client)
    new, made = make_feed(client)
    assert new != old
    assert "A new address was made: the old one no longer works." in made
    assert site.client().get(old).status_code == 404
    assert site.client().get(new).status_code == 200
    # A token that is not the user's, or no token at all, opens nothing either.
    assert site.client().get("/calendar/x.ics").status_code == 404


def test_my_agreements(site: Site) -> None:
    client = site.client()
    log_in(client, "mehmet@example.edu")
    assert partners(client.get("/mine").text) == ["Lahore University"]


def test_dates_are_days() -> None:
    assert agreement_pages.parse_day("2026-02-30") is None
    assert agreement_pages.parse_day("2026-02-28") == date(2026, 2, 28)
