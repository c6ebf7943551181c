"""The mail commands end to end: due, run-once, preview, outbox, as a user runs them."""

from __future__ import annotations

import email
import email.policy
import json
import sqlite3
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from e2e.clirun import REPO, SAMPLE, RunCli
from smtp_server import PASSWORD, USERNAME, Faults, SmtpTestServer, StartSmtpServer

from reminder import store
from reminder.importing.rows import read_table
from reminder.store.database import open_database

EXAMPLE_CONFIG = REPO / "config.example.toml"
AS_OF = "2022-01-17"
AYSE = "ayse.yilmaz@example.edu"
OFFICE = "international@example.edu"
# Checked by hand against the table for 2022-01-17 with config.example.toml: agreement ->
# (effective until, days left, window, recipient); window 0 is the expiry notice.
DUE = {
    24: ("2022-01-01", -16, 0, OFFICE),
    25: ("2022-01-06", -11, 0, OFFICE),
    26: ("2022-01-23", 6, 7, AYSE),
    27: ("2022-03-03", 45, 90, AYSE),
    23: ("2022-04-07", 80, 90, OFFICE),
    28: ("2022-04-07", 80, 90, AYSE),
    31: ("2022-04-22", 95, 180, OFFICE),
    29: ("2022-05-23", 126, 180, OFFICE),
    45: ("2022-06-15", 149, 180, OFFICE),
    42: ("2022-07-16", 180, 180, AYSE),
}
# Most urgent first: notices, then the smallest window, the fewest days, the partner.
DUE_ORDER = [24, 25, 26, 27, 23, 28, 31, 29, 45, 42]
PARTNERS = {
    23: ("Gabes University", "Tunis"),
    24: ("Al-Neelain University", "Sudan"),
    25: ("Baltic International Academy", "Latvia"),
    26: ("Georgia University", "Georgia"),
    27: ("L.N Gumilyov Euroasian National University", "Kazakhstan"),
    28: ("Odessa National Polytechnic University", "Ukraine"),
    29: ("International Sarajevo University", "Bosnia and Herzegovina"),
    31: ("Jordan University of Science & Technology", "Jordan"),
    42: ("Baku Musical Academy after U.Hajibayov", "Azerbaijan"),
    45: ("Michigan State University", "USA"),
}


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def state_dir(tmp_path: Path) -> Path:
    """Return where config.example.toml's defaults put the database and the outbox."""
    return tmp_path / "data" / "reminder"


def message_states(tmp_path: Path) -> list[str]:
    """Return the states of the messages in the default database, oldest first."""
    with sqlite3.connect(state_dir(tmp_path) / "reminder.sqlite3") as connection:
        return [state for (state,) in connection.execute("SELECT state FROM messages ORDER BY id")]


def ledger_counts(tmp_path: Path) -> tuple[int, int]:
    """Return how many (ledger entries, messages) the default database holds."""
    with sqlite3.connect(state_dir(tmp_path) / "reminder.sqlite3") as connection:
        reminders = connection.execute("SELECT count(*) FROM reminders").fetchone()[0]
        messages = connection.execute("SELECT count(*) FROM messages").fetchone()[0]
    return reminders, messages


def example_config(tmp_path: Path, replacements: dict[str, str]) -> Path:
    """Write config.example.toml with some of its lines replaced; return its path.

    Each key names a line of the example by its start; the value replaces that line.
    """
    lines = EXAMPLE_CONFIG.read_text(encoding="utf-8").splitlines()
    for start, replacement in replacements.items():
        (index,) = [i for i, line in enumerate(lines) if line.startswith(start)]
        lines[index] = replacement
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def smtp_config(
    tmp_path: Path,
    server: SmtpTestServer,
    ca_file: Path,
    replacements: dict[str, str] | None = None,
) -> Path:
    """Write config.example.toml sending through `server`, with `replacements` (each
    text of the example once, and what takes its place); return its path."""
    password_file = tmp_path / "smtp-password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    smtp = (
        f'host = "{server.host}"\nport = {server.port}\nusername = "{USERNAME}"\n'
        f'password_file = "{password_file}"\nca_file = "{ca_file}"'
    )
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    for old, new in (
        ('transport = "outbox"', 'transport = "smtp"'),
        ('host = "smtp.example.edu"', smtp),
        ("timeout_seconds = 60", "timeout_seconds = 5"),
        *(replacements or {}).items(),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "smtp.toml"
    path.write_text(text, encoding="utf-8")
    return path


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def recipient_of(message: EmailMessage) -> str:
    (address,) = message["To"].addresses
    return str(address.addr_spec)


def import_sample(tmp_path: Path) -> None:
    """Import the sample table into the default database, in-process: quicker than
    `reminder import`, which test_cli_data runs end to end."""
    table = read_table(SAMPLE, term_years=5, default_programme="Mevlana")
    url = f"sqlite:///{state_dir(tmp_path) / 'reminder.sqlite3'}"
    with open_database(url, migrate=True) as database, database.session() as session:
        store.apply_import(session, table.rows, now=datetime.now(UTC), actor="test")


def test_a_first_day_due_dry_run_preview_then_run_once_twice(
    run_cli: RunCli, tmp_path: Path
) -> None:
    import_sample(tmp_path)
    config = ("--config", EXAMPLE_CONFIG)
    outbox = state_dir(tmp_path) / "outbox"

    due = run_cli(*config, "due", "--as-of", AS_OF, "--json")

    assert due.returncode == 0, due.stderr
    rows = json.loads(due.stdout)
    assert [row["agreement_id"] for row in rows] == DUE_ORDER
    for row in rows:
        until, days_left, window, recipient = DUE[row["agreement_id"]]
        partner, country = PARTNERS[row["agreement_id"]]
        assert row["partner"] == partner
        assert row["country"] == country
        assert row["effective_until"] == until
        assert row["days_left"] == days_left
        assert row["window"] == window
        assert row["recipients"] == [recipient]
    assert ledger_counts(tmp_path) == (0, 0)

    dry = run_cli(*config, "run-once", "--as-of", AS_OF, "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert "nothing recorded, nothing sent" in dry.stdout
    would_send = [line for line in dry.stdout.splitlines() if "would send" in line]
    assert len(would_send) == 2
    assert any(AYSE in line for line in would_send)
    assert any(OFFICE in line for line in would_send)
    assert ledger_counts(tmp_path) == (0, 0)
    assert not outbox.exists()

    folder = tmp_path / "preview"
    preview = run_cli(*config, "preview", "--as-of", AS_OF, "--out", folder)

    assert preview.returncode == 0, preview.stderr
    names = sorted(path.name for path in folder.iterdir())
    assert names == [
        f"reminder-{AS_OF}-{AYSE}.eml",
        f"reminder-{AS_OF}-{AYSE}.html",
        f"reminder-{AS_OF}-{OFFICE}.eml",
        f"reminder-{AS_OF}-{OFFICE}.html",
    ]
    html = (folder / f"reminder-{AS_OF}-{OFFICE}.html").read_text(encoding="utf-8")
    assert "Jordan University of Science &amp; Technology" in html
    assert recipient_of(read_eml(folder / f"reminder-{AS_OF}-{AYSE}.eml")) == AYSE
    assert ledger_counts(tmp_path) == (0, 0)
    assert not outbox.exists()

    first = run_cli(*config, "run-once", "--as-of", AS_OF)

    assert first.returncode == 0, first.stderr
    assert "10 due, 2 message(s) recorded, 14 window(s) skipped" in first.stdout
    assert "outbox: 2 sent now, 0 pending, 0 failed" in first.stdout
    files = sorted(outbox.glob("*.eml"))
    messages = {recipient_of(read_eml(path)): read_eml(path) for path in files}
    assert len(files) == 2 and set(messages) == {AYSE, OFFICE}
    for address, message in messages.items():
        expected = {a for a, (*_, recipient) in DUE.items() if recipient == address}
        text = message.get_body(preferencelist=("plain",))
        assert text is not None
        content = text.get_content()
        assert {a for a in PARTNERS if f"(#{a})" in content} == expected
        assert message["Auto-Submitted"] == "auto-generated"
        assert f"{message['Message-ID'].strip('<>')}.eml" in [p.name for p in files]
    assert ledger_counts(tmp_path) == (10 + 14, 2)
    written = {path: path.read_bytes() for path in files}

    second = run_cli(*config, "run-once", "--as-of", AS_OF)

    assert second.returncode == 0, second.stderr
    assert "0 due, 0 message(s) recorded" in second.stdout
    assert {path: path.read_bytes() for path in outbox.glob("*.eml")} == written
    assert ledger_counts(tmp_path) == (24, 2)


# --- outbox ------------------------------------------------------------------------------


def test_outbox_shows_failures_and_retry_queues_them_again(
    run_cli: RunCli,
    tmp_path: Path,
    start_smtp_server: StartSmtpServer,
    smtp_ca_file: Path,
) -> None:
    import_sample(tmp_path)
    refusing = start_smtp_server(faults=Faults(data_reply="554 5.6.0 Content rejected"))
    refused_config = smtp_config(tmp_path, refusing, smtp_ca_file)

    failed = run_cli("--config", refused_config, "run-once", "--as-of", AS_OF)

    assert failed.returncode == 1
    assert "outbox: 0 sent now, 0 pending, 2 failed, 0 partly failed" in failed.stdout
    listed = run_cli("--config", EXAMPLE_CONFIG, "outbox", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [(e["kind"], e["state"], e["attempts"]) for e in entries] == [
        ("reminder", "failed", 1)
    ] * 2
    assert all("554 5.6.0 Content rejected" in e["last_error"] for e in entries)
    assert sorted(e["recipients"][0]["address"] for e in entries) == [AYSE, OFFICE]
    assert all(e["recipients"][0]["state"] == "failed" for e in entries)
    text = run_cli("--config", EXAMPLE_CONFIG, "outbox")
    assert "2 message(s) pending, failed or partly failed" in text.stdout
    failed_lines = [line for line in text.stdout.splitlines() if line.startswith("failed ")]
    assert sorted(line.split()[1] for line in failed_lines) == sorted(
        e["message_id"] for e in entries
    )

    healthy = start_smtp_server()
    healthy_config = smtp_config(tmp_path, healthy, smtp_ca_file)

    retry = run_cli("--config", healthy_config, "outbox", "retry")

    assert retry.returncode == 0, retry.stderr
    assert "2 refused message(s) queued again" in retry.stdout
    assert "outbox: 2 sent now, 0 pending, 0 failed, 0 partly failed" in retry.stdout
    assert sorted(r for m in healthy.messages for r in m.recipients) == [AYSE, OFFICE]
    assert {m.parse()["Message-ID"] for m in healthy.messages} == {e["message_id"] for e in entries}
    assert message_states(tmp_path) == ["sent", "sent"]


def test_a_cc_refused_for_good_is_partly_failed_and_retry_sends_it_to_the_cc_alone(
    run_cli: RunCli,
    tmp_path: Path,
    start_smtp_server: StartSmtpServer,
    smtp_ca_file: Path,
) -> None:
    import_sample(tmp_path)
    dean = "dean@example.edu"
    refusing = start_smtp_server(faults=Faults(rcpt_replies={dean: "550 5.1.1 No such user"}))
    escalated = {"cc = []": f'cc = ["{dean}"]\nat_window = 7'}
    config = smtp_config(tmp_path, refusing, smtp_ca_file, escalated)

    run = run_cli("--config", config, "run-once", "--as-of", AS_OF)

    # Both digests hold an urgent reminder, so both were copied to the dean.
    assert run.returncode == 1
    assert "outbox: 0 sent now, 0 pending, 0 failed, 2 partly failed" in run.stdout
    assert sorted(r for m in refusing.messages for r in m.recipients) == [AYSE, OFFICE]
    listed = json.loads(run_cli("--config", config, "outbox", "--json").stdout)
    assert [e["state"] for e in listed] == ["partial", "partial"]
    for entry in listed:
        refused = [r for r in entry["recipients"] if r["state"] == "failed"]
        assert refused == [
            {"address": dean, "state": "failed", "last_error": "550 5.1.1 No such user"}
        ]
    status = run_cli("--config", config, "status")
    assert "0 pending, 0 failed, 2 partly failed" in status.stdout
    assert f"{dean}: 550 5.1.1 No such user" in status.stdout

    fixed = start_smtp_server()
    retry = run_cli(
        "--config", smtp_config(tmp_path, fixed, smtp_ca_file, escalated), "outbox", "retry"
    )

    assert retry.returncode == 0, retry.stderr
    assert [m.recipients for m in fixed.messages] == [(dean,), (dean,)]
    assert message_states(tmp_path) == ["sent", "sent"]


def test_outbox_retry_sends_deferred_mail_now_instead_of_after_its_backoff(
    run_cli: RunCli,
    tmp_path: Path,
    start_smtp_server: StartSmtpServer,
    smtp_ca_file: Path,
) -> None:
    import_sample(tmp_path)
    busy = start_smtp_server(faults=Faults(data_reply="451 4.3.0 Try again later"))
    deferred = run_cli(
        "--config", smtp_config(tmp_path, busy, smtp_ca_file), "run-once", "--as-of", AS_OF
    )
    assert deferred.returncode == 1
    assert message_states(tmp_path) == ["pending", "pending"]

    healthy = start_smtp_server()
    retry = run_cli("--config", smtp_config(tmp_path, healthy, smtp_ca_file), "outbox", "retry")

    assert retry.returncode == 0, retry.stderr
    assert "2 deferred message(s) due now" in retry.stdout
    assert len(healthy.messages) == 2
    assert message_states(tmp_path) == ["sent", "sent"]


# --- what makes a run fail -----------------------------------------------------------------


def test_unrouted_agreements_exit_1_and_are_named_on_stderr(
    run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[agreements]\ndefault_programme = "Mevlana"\n', encoding="utf-8")
    import_sample(tmp_path)

    result = run_cli("--config", config, "run-once", "--as-of", AS_OF)

    assert result.returncode == 1
    no_traceback(result.stderr)
    unrouted = [line for line in result.stderr.splitlines() if "UNROUTED" in line]
    assert sorted(int(line.split()[2]) for line in unrouted) == sorted(DUE)
    assert "Gabes University" in result.stderr
    assert ledger_counts(tmp_path) == (0, 0)


def test_the_oneshot_unit_sends_the_weekly_digest_when_the_reminder_pass_fails(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """The shipped reminder-once.service, its ExecStart= lines run as systemd runs them
    (in order, stopping at the first that fails): with agreements unrouted the reminder
    pass exits 1, yet the weekly digest, which reports them, still goes out, and the
    unit still ends failed."""
    unit = (REPO / "systemd" / "reminder-once.service").read_text(encoding="utf-8")
    commands = [
        line.removeprefix("ExecStart=").split()[1:]
        for line in unit.splitlines()
        if line.startswith("ExecStart=")
    ]
    config = example_config(tmp_path, {"default_recipient = ": "# no default recipient"})
    import_sample(tmp_path)

    status = 0
    for arguments in commands:
        result = run_cli("--config", config, *arguments, "--as-of", AS_OF)
        no_traceback(result.stderr)
        status = result.returncode
        if status != 0:
            break

    assert status == 1
    outbox = sorted(path.name for path in (state_dir(tmp_path) / "outbox").iterdir())
    assert [name for name in outbox if name.startswith("weekly.")], outbox
    assert [name for name in outbox if name.startswith("reminder.")], outbox


def test_bad_config_exits_2_naming_every_problem(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[reminders]\nwindows = []\n[mail]\ntransport = "pigeon"\n', encoding="utf-8")

    result = run_cli("--config", config, "run-once", "--as-of", AS_OF)

    assert result.returncode == 2, result.stderr
    no_traceback(result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(str(config) in line for line in lines), result.stderr
    assert "reminders.windows" in result.stderr and "mail.transport" in result.stderr


def test_a_broken_template_names_itself_and_its_line_and_exits_2(
    run_cli: RunCli, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    config = example_config(tmp_path, {"# templates_dir": 'templates_dir = "templates"'})
    import_sample(tmp_path)
    broken = templates / "reminder-body.txt"

    broken.write_text("Hello,\n\n{% for item in digest.items %}\n{{ item }\n", encoding="utf-8")
    syntax = run_cli("--config", config, "run-once", "--as-of", AS_OF)

    assert syntax.returncode == 2
    no_traceback(syntax.stderr)
    assert f"{broken}:4:" in syntax.stderr, syntax.stderr

    broken.write_text("Hello,\n\n{{ digest.no_such_field }}\n", encoding="utf-8")
    undefined = run_cli("--config", config, "run-once", "--as-of", AS_OF)

    assert undefined.returncode == 2
    no_traceback(undefined.stderr)
    assert f"{broken}:3:" in undefined.stderr, undefined.stderr
    assert "no_such_field" in undefined.stderr
    assert ledger_counts(tmp_path) == (0, 0)
    assert not (state_dir(tmp_path) / "outbox").exists()
