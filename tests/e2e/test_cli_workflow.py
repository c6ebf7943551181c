"""The workflow commands end to end: renew, retire, reinstate, snooze, show, export-ics,
and the digests' HTML as the sample table renders it."""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import subprocess
import sys
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from e2e.clirun import REPO, SAMPLE, RunCli
from icalendar import Calendar

CONFIG = REPO / "config.example.toml"
AS_OF = "2022-01-17"
# config.example.toml's first coordinator and her countries.
AYSE = "ayse.yilmaz@example.edu"
AYSE_COUNTRIES = {"AZ", "GE", "KZ", "KG", "MN", "RU", "UA"}


@pytest.fixture(scope="module")
def imported_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a database file holding the sample table, imported once for the module."""
    data_home = tmp_path_factory.mktemp("sample-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMINDER_", "STATE_DIR"))}
    env |= {"XDG_DATA_HOME": str(data_home), "TZ": "Europe/Istanbul"}
    imported = subprocess.run(
        [sys.executable, "-m", "reminder", "--config", str(CONFIG), "import", str(SAMPLE)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    return data_home / "reminder" / "reminder.sqlite3"


@pytest.fixture
def reminder(run_cli: RunCli, cli_env: dict[str, str], imported_sample: Path) -> RunCli:
    """Return run_cli with the example config, on a copy of the imported sample."""
    database = Path(cli_env["XDG_DATA_HOME"]) / "reminder" / imported_sample.name
    database.parent.mkdir(parents=True)
    shutil.copyfile(imported_sample, database)

    def run(*args: str | Path) -> Any:
        return run_cli("--config", CONFIG, *args)

    return run


def json_of(reminder: RunCli, *args: str) -> Any:
    result = reminder(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_line(stderr: str) -> str:
    """Return the single line of `stderr`, failing when there are more or a traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


# ---------------------------------------------------------------------------------------
# renew and show


def test_renew_records_the_new_agreement_and_show_tells_the_story(reminder: RunCli) -> None:
    renewed = reminder("renew", "24", "--concluded", "2022-01-10")
    assert renewed.returncode == 0, renewed.stderr
    assert "agreement #69 recorded: the renewal of #24" in renewed.stdout
    assert "until 2027-01-10" in renewed.stdout  # the configured five-year term

    old = json_of(reminder, "show", "24", "--json", "--as-of", AS_OF)
    assert old["agreement"]["status"] == "superseded"
    assert old["agreement"]["superseded_by_id"] == 69
    assert [s["id"] for s in old["successors"]] == [69]
    assert old["predecessors"] == []
    assert [e["action"] for e in old["history"]] == ["imported", "superseded"]

    new = json_of(reminder, "show", "69", "--json", "--as-of", AS_OF)
    agreement = new["agreement"]
    assert (agreement["partner"], agreement["country_code"]) == ("Al-Neelain University", "SD")
    assert (agreement["concluded"], agreement["effective_until"]) == ("2022-01-10", "2027-01-10")
    assert agreement["status"] == "active"
    assert new["predecessors"] == [
        {
            "id": 24,
            "concluded": "2017-01-01",
            "effective_until": "2022-01-01",
            "lifecycle": "superseded",
        }
    ]
    assert new["reminders"] == []
    (event,) = new["history"]
    assert (event["action"], event["actor"]) == ("renewed", getpass.getuser())

    # No reminder for the renewed agreement: its expiry notice is gone from `due`.
    due = json_of(reminder, "due", "--as-of", AS_OF, "--json")
    assert 24 not in {row["agreement_id"] for row in due}
    assert 25 in {row["agreement_id"] for row in due}

    shown = reminder("show", "24", "--as-of", AS_OF)
    assert shown.returncode == 0
    assert "Successors (1):" in shown.stdout
    assert "#69" in shown.stdout
    assert "Superseded by:    #69" in shown.stdout


def test_renew_with_years_or_until_and_amend(reminder: RunCli) -> None:
    by_years = reminder("renew", "25", "--concluded", "2022-01-12", "--years", "3")
    assert by_years.returncode == 0, by_years.stderr
    assert "until 2025-01-12" in by_years.stdout
    by_until = reminder("renew", "26", "--concluded", "2022-01-15", "--until", "2026-06-30")
    assert "until 2026-06-30" in by_until.stdout

    amended = reminder("renew", "27", "--until", "2023-03-03")
    assert amended.returncode == 0, amended.stderr
    assert "agreement #27 now ends on 2023-03-03 (was 2022-03-03)" in amended.stdout
    shown = json_of(reminder, "show", "27", "--json", "--as-of", AS_OF)
    assert shown["agreement"]["effective_until"] == "2023-03-03"
    assert shown["agreement"]["status"] == "active"
    assert shown["history"][-1]["action"] == "amended"
    assert shown["history"][-1]["details"] == "effective until 2022-03-03 -> 2023-03-03"
    again = reminder("renew", "27", "--until", "2023-03-03")
    assert "nothing changed" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("renew", "abc", "--concluded", "2022-01-10"), "'abc' is not an agreement id"),
        (("renew", "-3", "--concluded", "2022-01-10"), "'-3' is not an agreement id"),
        (("renew", "999", "--concluded", "2022-01-10"), "no agreement #999"),
        (("renew", "26", "--concluded", "2022-02-30"), "--concluded: '2022-02-30' is not a date"),
        (("renew", "26", "--concluded", "10.01.2022"), "--concluded: '10.01.2022' is not a date"),
        (("renew", "26", "--until", "soon"), "--until: 'soon' is not a date"),
        (("renew", "26", "--concluded", "2016-01-01"), "must be concluded after agreement #26"),
        (("renew", "26"), "give --concluded DATE for a renewal"),
        (
            ("renew", "26", "--concluded", "2022-01-10", "--until", "2027-01-01", "--years", "3"),
            "either --until or --years",
        ),
        (("renew", "26", "--concluded", "2022-01-10", "--years", "x"), "'x' is not a whole"),
        (("renew", "26", "--concluded", "2022-01-10", "--years", "0"), "--years must be 1 to"),
        (("renew", "26", "--until", "2010-01-01"), "cannot end on 2010-01-01"),
        (("snooze", "26", "--until", "2020-01-01"), "is not after today"),
        (("snooze", "26"), "give either --until DATE or --clear"),
        (("reinstate", "26"), "is active, not retired"),
        (("retire", "26", "--reason", "  "), "--reason must say why"),
        (("show", "0"), "'0' is not an agreement id"),
        (("show", "70"), "no agreement #70"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    reminder: RunCli, args: tuple[str, ...], message: str
) -> None:
    result = reminder(*args)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("reminder: ")
    assert message in line


# ---------------------------------------------------------------------------------------
# retire, reinstate, snooze


def test_retire_shows_in_listings_and_reinstate_undoes_it(reminder: RunCli) -> None:
    retired = reminder("retire", "26", "--reason", "The partner closed its exchange office")
    assert retired.returncode == 0, retired.stderr
    listed = {a["id"]: a for a in json_of(reminder, "agreements", "--json", "--as-of", AS_OF)}
    assert listed[26]["status"] == "retired"
    assert listed[26]["retired_reason"] == "The partner closed its exchange office"
    table = reminder("agreements", "--as-of", AS_OF, "--status", "retired")
    assert "retired (The partner closed its exchange office)" in table.stdout
    due = json_of(reminder, "due", "--as-of", AS_OF, "--json")
    assert 26 not in {row["agreement_id"] for row in due}
    shown = reminder("show", "26", "--as-of", AS_OF)
    assert "Retired:          The partner closed its exchange office" in shown.stdout

    reinstated = reminder("reinstate", "26")
    assert reinstated.returncode == 0
    assert "agreement #26 reinstated: active" in reinstated.stdout
    listed = {a["id"]: a for a in json_of(reminder, "agreements", "--json", "--as-of", AS_OF)}
    assert (listed[26]["status"], listed[26]["retired_reason"]) == ("expiring", None)
    due = json_of(reminder, "due", "--as-of", AS_OF, "--json")
    assert 26 in {row["agreement_id"] for row in due}
    history = json_of(reminder, "show", "26", "--json")["history"]
    assert [(e["action"], e["actor"]) for e in history][1:] == [
        ("retired", getpass.getuser()),
        ("reinstated", getpass.getuser()),
    ]


def test_snooze_holds_back_all_but_the_final_window(reminder: RunCli) -> None:
    # On 2022-01-17, #27 is due at 90 days and #26 at its final (7-day) window.
    for agreement_id in ("26", "27"):
        snoozed = reminder("snooze", agreement_id, "--until", "2099-01-01")
        assert snoozed.returncode == 0, snoozed.stderr
    assert "except the 7-day reminder and the expiry notice" in snoozed.stdout
    due = {row["agreement_id"]: row for row in json_of(reminder, "due", "--as-of", AS_OF, "--json")}
    assert 27 not in due
    assert due[26]["window"] == 7
    listed = {a["id"]: a for a in json_of(reminder, "agreements", "--json", "--as-of", AS_OF)}
    assert listed[27]["snoozed_until"] == "2099-01-01"

    cleared = reminder("snooze", "27", "--clear")
    assert "snooze cleared" in cleared.stdout
    due_again = json_of(reminder, "due", "--as-of", AS_OF, "--json")
    assert 27 in {row["agreement_id"] for row in due_again}
    history = json_of(reminder, "show", "27", "--json")["history"]
    assert [(e["action"], e["details"]) for e in history][1:] == [
        ("snoozed", "until 2099-01-01"),
        ("snoozed", "snooze cleared (was until 2099-01-01)"),
    ]


# ---------------------------------------------------------------------------------------
# export-ics


def events_of(content: bytes) -> dict[str, Any]:
    calendar = Calendar.from_ical(content)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def test_export_ics_writes_the_active_agreements(reminder: RunCli, tmp_path: Path) -> None:
    # An end far ahead: every alarm is still to come, whatever day the test runs.
    renewed = reminder("renew", "24", "--concluded", "2022-01-10", "--until", "2040-01-10")
    assert renewed.returncode == 0, renewed.stderr
    assert reminder("retire", "25", "--reason", "not renewing").returncode == 0
    listed = json_of(reminder, "agreements", "--json")
    active = {a["id"]: a for a in listed if a["lifecycle"] == "active"}
    assert 24 not in active and 25 not in active and 69 in active

    out = tmp_path / "agreements.ics"
    exported = reminder("export-ics", "--out", out)
    assert exported.returncode == 0, exported.stderr
    events = events_of(out.read_bytes())
    expected = {
        f"agreement-{a['id']}-{a['effective_until'].replace('-', '')}@reminder.example.edu"
        for a in active.values()
    }
    assert set(events) == expected
    renewal = events["agreement-69-20400110@reminder.example.edu"]
    triggers = [alarm.content_line("TRIGGER", alarm["TRIGGER"]) for alarm in renewal.walk("VALARM")]
    assert triggers == ["TRIGGER:-P180D", "TRIGGER:-P90D", "TRIGGER:-P30D", "TRIGGER:-P7D"]

    to_stdout = reminder("export-ics", "--coordinator", AYSE.upper())
    assert to_stdout.returncode == 0
    hers = events_of(to_stdout.stdout.encode())
    assert set(hers) == {
        uid for uid in expected if active[int(uid.split("-")[1])]["country_code"] in AYSE_COUNTRIES
    }
    assert hers


# ---------------------------------------------------------------------------------------
# The digests as the sample renders them


def loads_nothing_from_elsewhere(html: str) -> None:
    """Fail when `html` would fetch anything: images, styles, scripts, frames, fonts."""
    for tag in re.finditer(r"<(img|link|script|iframe|object|embed|source)\b[^>]*>", html, re.I):
        assert not re.search(r"\b(src|href|srcset)\s*=\s*[\"']?\s*(https?:)?//", tag[0], re.I), tag[
            0
        ]
    assert not re.search(r"@import", html, re.I)
    assert not re.search(r"url\(\s*[\"']?\s*(https?:)?//", html, re.I)
    assert not re.search(r"\bbackground\s*=\s*[\"']?\s*(https?:)?//", html, re.I)


def test_the_digests_load_nothing_from_elsewhere_and_carry_the_calendar(
    reminder: RunCli, tmp_path: Path
) -> None:
    folder = tmp_path / "preview"
    for job in ("reminders", "digest"):
        result = reminder("preview", "--job", job, "--as-of", AS_OF, "--out", folder)
        assert result.returncode == 0, result.stderr
    pages = sorted(folder.glob("*.html"))
    assert {page.name.split("-")[0] for page in pages} == {"reminder", "weekly"}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        loads_nothing_from_elsewhere(html)
        assert "<style" not in html.lower()

    # config.example.toml's Ayşe reads Turkish.
    weekly = (folder / f"weekly-2022-W03-{AYSE}.html").read_text(encoding="utf-8")
    assert "Önümüzdeki 12 ayda sona erecekler" in weekly
    assert re.search(r'class="bar-soon"[^>]*width="\d+%"', weekly)
    assert "Ülkelere göre (7)" in weekly

    (eml,) = folder.glob(f"reminder-{AS_OF}-{AYSE}.eml")
    message = message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert isinstance(message, EmailMessage)
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "PUBLISH"
    uids = set(events_of(part.get_content().encode()))
    # Ayşe's reminders on 2022-01-17: #26, #27, #28 and #42.
    assert {int(uid.split("-")[1]) for uid in uids} == {26, 27, 28, 42}
