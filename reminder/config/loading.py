"""TOML configuration: find the file, check it against the schema, freeze it.

Every problem is reported at once, each naming the file and the key path. A missing
config file is not an error: the built-in defaults run every command (SQLite in the
state directory, mail written to an outbox folder).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reminder.config.checks import SCHEMA, check_timezone
from reminder.config.schema import (
    AgreementsConfig,
    Config,
    Coordinator,
    DatabaseConfig,
    DigestConfig,
    EscalationConfig,
    HaConfig,
    HealthConfig,
    MailConfig,
    RemindersConfig,
    ScheduleConfig,
    SecretRef,
    SmtpConfig,
)
from reminder.config.toml_schema import validate
from reminder.errors import ConfigError

SYSTEM_CONFIG = Path("/etc/reminder/config.toml")
CONFIG_FILE_NAME = "config.toml"


# --- finding and loading ---------------------------------------------------------------


def find_config_file(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """Return the config file to use, or None to run on the built-in defaults.

    Order: --config, $REMINDER_CONFIG, $CONFIGURATION_DIRECTORY/config.toml (systemd's
    ConfigurationDirectory=), /etc/reminder/config.toml. An explicitly named file must
    exist; the system locations are used only when they do.

    Raises ConfigError when an explicitly named file does not exist.
    """
    named = explicit or environ.get("REMINDER_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            origin = "--config" if explicit else "$REMINDER_CONFIG"
            raise ConfigError(f"{path}: config file not found (named by {origin})")
        return path
    candidates = []
    if environ.get("CONFIGURATION_DIRECTORY"):
        first = environ["CONFIGURATION_DIRECTORY"].split(":")[0]
        candidates.append(Path(first) / CONFIG_FILE_NAME)
    candidates.append(SYSTEM_CONFIG)
    return next((c for c in candidates if c.is_file()), None)


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """Return where the default database and outbox live.

    systemd's StateDirectory= sets $STATE_DIRECTORY; otherwise the user's XDG data
    directory, so a new user can run every command without writing a config.
    """
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    data_home = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "reminder"


def system_timezone(environ: Mapping[str, str]) -> str:
    """Return the machine's IANA time zone name, or "UTC" when it cannot be told.

    $TZ wins, as it does for every other program; then /etc/localtime via tzlocal.
    """
    name = environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            import tzlocal

            name = tzlocal.get_localzone_name() or ""
        except Exception:  # tzlocal raises several kinds on odd set-ups; UTC is a safe answer
            return "UTC"
    return name if name and check_timezone(name) is None else "UTC"


def load_config(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Find, read and check the configuration.

    Returns the frozen Config (defaults when no file is found).
    Raises ConfigError listing every problem, each prefixed with the file name.
    """
    env = os.environ if environ is None else environ
    path = find_config_file(explicit, env)
    document: dict[str, Any] = {}
    if path is not None:
        document = _read_toml(path)
    return build_config(document, path, env)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends in "(at line L, column C)".
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def build_config(
    document: Mapping[str, Any], path: Path | None, environ: Mapping[str, str]
) -> Config:
    """Check a parsed TOML document and freeze it into a Config.

    Raises ConfigError listing every problem, each prefixed with the file name.
    """
    checked = validate(document, SCHEMA)
    problems = list(checked.problems)
    data = checked.data
    if path is not None:
        problems += _inline_secret_problems(path, data)
    label = str(path) if path is not None else "(defaults)"
    if problems:
        raise ConfigError(f"{label}: {p}" for p in problems)

    base = path.parent if path is not None else Path.cwd()
    state_dir = default_state_dir(environ)
    timezone = data["timezone"] or system_timezone(environ)

    def resolve(value: str | None) -> Path | None:
        return None if value is None else (base / Path(value).expanduser())

    def secret(table: Mapping[str, Any]) -> SecretRef:
        return SecretRef(
            inline=table["password"],
            file=resolve(table["password_file"]),
            credential=table["password_credential"],
            env=table["password_env"],
        )

    database, mail, smtp, schedule = data["database"], data["mail"], data["smtp"], data["schedule"]
    reminders = data["reminders"]
    security = smtp["security"]
    default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
    return Config(
        source=path,
        timezone=timezone,
        state_dir=state_dir,
        database=DatabaseConfig(
            url=database["url"] or f"sqlite:///{state_dir / 'reminder.sqlite3'}",
            password=secret(database),
        ),
        agreements=AgreementsConfig(**data["agreements"]),
        reminders=RemindersConfig(
            windows=tuple(sorted(reminders["windows"], reverse=True)),
            notify_expired=reminders["notify_expired"],
            expired_lookback_days=reminders["expired_lookback_days"],
            default_recipient=reminders["default_recipient"],
        ),
        coordinators=tuple(
            Coordinator(
                name=c["name"] or c["email"],
                email=c["email"],
                countries=tuple(code.upper() for code in c["countries"]),
                programmes=tuple(c["programmes"]),
            )
            for c in data["coordinators"]
        ),
        digest=DigestConfig(
            send_when_empty=data["digest"]["send_when_empty"],
            office_summary_to=tuple(data["digest"]["office_summary_to"]),
        ),
        escalation=EscalationConfig(
            at_window=data["escalation"]["at_window"], cc=tuple(data["escalation"]["cc"])
        ),
        mail=MailConfig(
            transport=mail["transport"],
            sender=mail["from"] or "reminder@localhost",
            reply_to=mail["reply_to"],
            outbox_dir=resolve(mail["outbox_dir"]) or state_dir / "outbox",
            templates_dir=resolve(mail["templates_dir"]),
        ),
        smtp=SmtpConfig(
            host=smtp["host"],
            port=smtp["port"] or default_port,
            security=security,
            username=smtp["username"],
            password=secret(smtp),
            ca_file=resolve(smtp["ca_file"]),
            timeout_seconds=float(smtp["timeout_seconds"]),
        ),
        schedule=ScheduleConfig(
            reminders=schedule["reminders"],
            digest=schedule["digest"],
            timezone=schedule["timezone"] or timezone,
            retry_minutes=schedule["retry_minutes"],
        ),
        ha=HaConfig(**data["ha"]),
        health=HealthConfig(**data["health"]),
    )


def _inline_secret_problems(path: Path, data: Mapping[str, Any]) -> list[str]:
    """Refuse passwords written in a config file that other users can read."""
    try:
        world_readable = bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return []
    if not world_readable:
        return []
    problems = []
    advice = (
        "use password_file, password_credential or password_env, "
        "or make the file unreadable to others (chmod o-r)"
    )
    for section in ("database", "smtp"):
        if data[section]["password"] is not None:
            problems.append(
                f"at '{section}.password': a password in a file other users can read; {advice}"
            )
    url = data["database"]["url"]
    if url and re.match(r"^[a-z0-9+]+://[^/@:]*:[^/@]+@", url):
        problems.append(
            "at 'database.url': the URL holds a password and the file is readable "
            f"by other users; {advice}"
        )
    return problems
