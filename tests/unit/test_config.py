"""Configuration: discovery, schema errors reported all at once, secrets, defaults."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from reminder.config.credentials import resolve_secret
from reminder.config.effective import effective_document, to_toml
from reminder.config.keys import all_keys
from reminder.config.loading import build_config, find_config_file, load_config
from reminder.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "config.example.toml"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_defaults_need_no_file(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    config = load_config(None, env)
    assert config.source is None
    assert config.reminders.windows == (180, 90, 30, 7)
    assert config.agreements.term_years == 5
    assert config.mail.transport == "outbox"
    assert config.database.url == f"sqlite:///{tmp_path / 'data' / 'reminder' / 'reminder.sqlite3'}"
    assert config.mail.outbox_dir == tmp_path / "data" / "reminder" / "outbox"


def test_state_directory_from_systemd_wins(tmp_path: Path) -> None:
    env = {"STATE_DIRECTORY": f"{tmp_path}/state:{tmp_path}/other", "XDG_DATA_HOME": "/nowhere"}
    config = load_config(None, env)
    assert config.state_dir == tmp_path / "state"


def test_example_config_loads_and_documents_every_key(tmp_path: Path) -> None:
    config = load_config(str(EXAMPLE), {"XDG_DATA_HOME": str(tmp_path)})
    assert config.source == EXAMPLE
    assert config.coordinators, "the example shows how coordinators are routed"
    # Every key the schema knows appears in the example, at least as a comment.
    text = EXAMPLE.read_text(encoding="utf-8")
    for table, keys in all_keys().items():
        if table:
            assert f"[{table}]" in text or f"[[{table}]]" in text, table
        for key in keys:
            assert f"{key} =" in text or f"[{key}]" in text, f"{table}.{key} is not documented"


def test_discovery_order(tmp_path: Path) -> None:
    named = write(tmp_path / "named.toml", "")
    from_env = write(tmp_path / "env.toml", "")
    confdir = tmp_path / "etc"
    confdir.mkdir()
    write(confdir / "config.toml", "")
    env = {"REMINDER_CONFIG": str(from_env), "CONFIGURATION_DIRECTORY": str(confdir)}
    assert find_config_file(str(named), env) == named
    assert find_config_file(None, env) == from_env
    assert (
        find_config_file(None, {"CONFIGURATION_DIRECTORY": str(confdir)}) == confdir / "config.toml"
    )


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        find_config_file(str(tmp_path / "missing.toml"), {})
    assert "missing.toml: config file not found (named by --config)" in str(caught.value)


def test_every_error_reported_at_once_with_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.toml",
        """
timezone = "Mars/Olympus"
[reminders]
windows = [90, -3, "x"]
widnows = [1]
notify_expired = "yes"
[mail]
transport = "pigeon"
from = "not an address"
[[coordinators]]
name = "Ayşe"
email = "ayse@example.edu"
countries = ["AZ", "ZZ"]
[smtp]
port = 70000
password_env = "A"
password_file = "b"
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})
    problems = caught.value.problems
    expected = [
        "at 'timezone': unknown time zone 'Mars/Olympus'",
        "at 'reminders.windows[1]': must be 1 to 3660, got -3",
        "at 'reminders.windows[2]': expected a whole number, got a string 'x'",
        "at 'reminders.widnows': unknown key (did you mean 'windows'?)",
        "at 'reminders.notify_expired': expected true or false, got a string 'yes'",
        "at 'mail.transport': must be one of 'outbox', 'smtp', got 'pigeon'",
        "at 'mail.from': 'not an address' is not an e-mail address",
        "at 'coordinators[0].countries[1]': 'ZZ' is not an ISO 3166-1 alpha-2 country code",
        "at 'smtp.port': must be 1 to 65535, got 70000",
    ]
    for fragment in expected:
        assert any(p.startswith(f"{path}: ") and fragment in p for p in problems), fragment
    assert all(p.startswith(f"{path}: ") for p in problems)


def test_secret_given_two_ways_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[smtp]\npassword_env = "A"\npassword_file = "b"\n')
    with pytest.raises(ConfigError, match="give the password one way only"):
        load_config(str(path), {})


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[reminders]\nwindows = [1,,2]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})
    assert str(caught.value).startswith(f"{path}: not valid TOML")
    assert "line" in str(caught.value)


def test_bool_is_not_a_number(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[agreements]\nterm_years = true\n")
    with pytest.raises(
        ConfigError, match="term_years': expected a whole number, got true or false"
    ):
        load_config(str(path), {})


def test_inline_password_refused_in_world_readable_file(tmp_path: Path) -> None:
    text = '[smtp]\npassword = "hunter2"\n[database]\nurl = "postgresql://u:pw@db/x"\n'
    path = write(tmp_path / "c.toml", text, mode=0o644)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})
    assert len(caught.value.problems) == 2
    assert "hunter2" not in str(caught.value) and "pw@" not in str(caught.value)
    path.chmod(0o600)
    config = load_config(str(path), {})
    assert resolve_secret(config.smtp.password, "smtp") == "hunter2"


def test_secret_sources(tmp_path: Path) -> None:
    secret_file = write(tmp_path / "pw", "from-file\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    write(creds / "smtp-password", "from-credential")
    path = write(
        tmp_path / "c.toml", '[smtp]\npassword_file = "pw"\n[database]\npassword_env = "DBPW"\n'
    )
    config = load_config(str(path), {})
    assert config.smtp.password.file == secret_file
    assert resolve_secret(config.smtp.password, "smtp") == "from-file"
    assert resolve_secret(config.database.password, "database", {"DBPW": "env"}) == "env"
    with pytest.raises(ConfigError, match="DBPW is not set"):
        resolve_secret(config.database.password, "database", {})
    path = write(tmp_path / "d.toml", '[smtp]\npassword_credential = "smtp-password"\n')
    config = load_config(str(path), {})
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert resolve_secret(config.smtp.password, "smtp", env) == "from-credential"
    with pytest.raises(ConfigError, match="CREDENTIALS_DIRECTORY is not set"):
        resolve_secret(config.smtp.password, "smtp", {})


def test_effective_document_redacts_and_round_trips(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[database]\nurl = "postgresql://u:s3cret@db/x"\n[smtp]\npassword = "hunter2"\n'
        '[[coordinators]]\nemail = "a@example.edu"\ncountries = ["az"]\n',
    )
    config = load_config(str(path), {"XDG_DATA_HOME": str(tmp_path)})
    text = to_toml(effective_document(config))
    assert "s3cret" not in text and "hunter2" not in text
    reparsed = tomllib.loads(text)
    assert reparsed["database"]["url"] == "postgresql://u:********@db/x"
    assert reparsed["coordinators"][0]["countries"] == ["AZ"]
    # What check-config prints is itself a valid config (the redacted password aside).
    del reparsed["smtp"]["password"]
    reparsed["database"]["url"] = "sqlite:///x.db"
    assert build_config(reparsed, None, {}).reminders.windows == config.reminders.windows


def test_windows_sorted_and_unique(tmp_path: Path) -> None:
    config = build_config({"reminders": {"windows": [7, 180, 30]}}, None, {})
    assert config.reminders.windows == (180, 30, 7)
    with pytest.raises(ConfigError, match="lists a window twice"):
        build_config({"reminders": {"windows": [7, 7]}}, None, {})
    with pytest.raises(ConfigError, match="needs at least one window"):
        build_config({"reminders": {"windows": []}}, None, {})


def test_system_timezone_used_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert build_config({}, None, dict(os.environ)).timezone == "Asia/Tokyo"


def test_routing_addresses_must_be_bare(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[reminders]\ndefault_recipient = "Office <io@example.edu>"\n'
        '[[coordinators]]\nemail = "Ayşe <ayse@example.edu>"\n'
        '[mail]\nfrom = "Reminders <reminder@example.edu>"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})
    problems = caught.value.problems
    assert len(problems) == 2
    assert all("give the bare address" in p for p in problems)


def test_a_bad_time_zone_hides_no_other_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        'timezone = "Mars/Olympus"\n[smtp]\npassword_env = "A"\npassword_file = "b"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})
    assert list(caught.value.problems) == [
        f"{path}: at 'timezone': unknown time zone 'Mars/Olympus' "
        "(use an IANA name such as 'Europe/Istanbul')",
        f"{path}: at 'smtp': give the password one way only, not password_file and password_env",
    ]


def test_a_key_in_the_wrong_table_names_the_right_one() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"mail": {"default_recipient": "io@example.edu"}, "windows": [7]}, None, {})
    assert list(caught.value.problems) == [
        "(defaults): at 'mail.default_recipient': unknown key "
        "(did you mean 'reminders.default_recipient'?)",
        "(defaults): at 'windows': unknown key (did you mean 'reminders.windows'?)",
    ]


def test_a_password_source_is_named_as_the_file_writes_it() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"database": {"password_env": "", "password": 3}}, None, {})
    assert list(caught.value.problems) == [
        "(defaults): at 'database.password': expected a string, got a whole number 3",
        "(defaults): at 'database.password_env': must not be empty",
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("61 8 * * *", "is not a valid cron line"),
        ("* * 1 * mon", "restricts both the day of the month and the weekday"),
        ("0 8 31 2 *", "never fires"),
        ("0 8 * *", "needs 5 fields"),
    ],
)
def test_cron_lines_the_scheduler_cannot_run_are_refused(line: str, reason: str) -> None:
    for job in ("reminders", "digest"):
        with pytest.raises(ConfigError) as caught:
            build_config({"schedule": {job: line}}, None, {})
        [problem] = caught.value.problems
        assert problem.startswith(f"(defaults): at 'schedule.{job}': {line!r} ")
        assert reason in problem


def test_a_rare_cron_line_is_accepted() -> None:
    config = build_config(
        {"schedule": {"reminders": "30 7 29 2 *", "digest": "0 9 * * 7"}}, None, {}
    )
    assert config.schedule.reminders == "30 7 29 2 *"


def test_smtp_port_follows_security_unless_given() -> None:
    assert build_config({"smtp": {"security": "tls"}}, None, {}).smtp.port == 465
    assert build_config({"smtp": {"security": "none"}}, None, {}).smtp.port == 25
    assert build_config({"smtp": {"security": "tls", "port": 2465}}, None, {}).smtp.port == 2465


def test_paths_are_taken_from_the_config_files_folder(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[mail]\noutbox_dir = "out"\ntemplates_dir = "/t"\n')
    config = load_config(str(path), {})
    assert config.mail.outbox_dir == tmp_path / "out"
    assert config.mail.templates_dir == Path("/t")


def test_languages_must_have_a_catalog_and_a_coordinators_defaults_to_the_offices() -> None:
    config = build_config(
        {
            "mail": {"language": "tr"},
            "coordinators": [
                {"email": "a@example.edu", "language": "en"},
                {"email": "b@example.edu"},
            ],
        },
        None,
        {},
    )
    assert [config.language_of(c) for c in config.coordinators] == ["en", "tr"]
    assert config.languages == ("en", "tr")
    assert build_config({}, None, {}).mail.language == "en"
    with pytest.raises(ConfigError) as caught:
        build_config(
            {"mail": {"language": "tk"}, "coordinators": [{"email": "a@x.edu", "language": "TR"}]},
            None,
            {},
        )
    assert list(caught.value.problems) == [
        "(defaults): at 'coordinators[0].language': no catalog for language 'TR' "
        "(did you mean 'tr'?); available: 'en', 'tr'",
        "(defaults): at 'mail.language': no catalog for language 'tk' "
        "(did you mean 'tr'?); available: 'en', 'tr'",
    ]


def test_country_aliases_name_one_country_each() -> None:
    config = build_config({"countries": {"aliases": {"ABD": "us"}}}, None, {})
    assert config.countries.aliases == {"ABD": "US"}
    with pytest.raises(ConfigError) as caught:
        build_config({"countries": {"aliases": {"Anywhere": "*", "Y": "QQ"}}}, None, {})
    assert list(caught.value.problems) == [
        "(defaults): at 'countries.aliases.Anywhere': '*' is not an ISO 3166-1 alpha-2 "
        "country code",
        "(defaults): at 'countries.aliases.Y': 'QQ' is not an ISO 3166-1 alpha-2 country code",
    ]
    with pytest.raises(ConfigError, match="a country spelling must not be empty"):
        build_config({"countries": {"aliases": {" ": "GE"}}}, None, {})


def test_the_effective_config_keeps_languages_and_aliases(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[mail]\nlanguage = "tr"\n[countries]\naliases = { "Tunus Cumhuriyeti" = "TN" }\n'
        '[[coordinators]]\nemail = "a@example.edu"\nlanguage = "en"\n',
    )
    config = load_config(str(path), {"XDG_DATA_HOME": str(tmp_path)})
    reparsed = tomllib.loads(to_toml(effective_document(config)))
    assert reparsed["mail"]["language"] == "tr"
    assert reparsed["countries"]["aliases"] == {"Tunus Cumhuriyeti": "TN"}
    assert reparsed["coordinators"][0]["language"] == "en"
