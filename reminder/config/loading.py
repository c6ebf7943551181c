"""TOML configuration: find the file, read it, check it against the schema.

Every problem is reported at once, each naming the file and the key path. A missing
config file is not an error: the built-in defaults run every command (SQLite in the
state directory, mail written to an outbox folder).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reminder.config.environment import Surroundings
from reminder.config.problems import problem_lines
from reminder.config.redact import url_has_password
from reminder.config.schema import Config
from reminder.errors import ConfigError

SYSTEM_CONFIG = Path("/etc/reminder/config.toml")
CONFIG_FILE_NAME = "config.toml"


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


def load_config(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Find, read and check the configuration.

    Returns the Config (defaults when no file is found).
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
    """Check a parsed TOML document read from `path` (None: no file) and return its Config.

    Raises ConfigError listing every problem, each prefixed with the file name.
    """
    problems: list[str] = []
    config: Config | None = None
    try:
        config = Config.model_validate(dict(document), context=Surroundings.of(path, environ))
    except ValidationError as error:
        problems += problem_lines(error)
    if path is not None:
        problems += _inline_secret_problems(path, document)
    if problems or config is None:
        label = str(path) if path is not None else "(defaults)"
        raise ConfigError(f"{label}: {problem}" for problem in problems)
    return config


def _inline_secret_problems(path: Path, document: Mapping[str, Any]) -> list[str]:
    """Refuse passwords written in a config file that other users can read."""
    try:
        world_readable = bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return []
    if not world_readable:
        return []
    advice = (
        "use password_file, password_credential or password_env, "
        "or make the file unreadable to others (chmod o-r)"
    )
    tables = {name: document.get(name) for name in ("database", "smtp")}
    problems = [
        f"at '{name}.password': a password in a file other users can read; {advice}"
        for name, table in tables.items()
        if isinstance(table, dict) and "password" in table
    ]
    url = tables["database"].get("url") if isinstance(tables["database"], dict) else None
    web = document.get("web")
    if isinstance(web, dict) and "secret_key" in web:
        problems.append(
            "at 'web.secret_key': a secret key in a file other users can read; use "
            "secret_key_file, secret_key_credential or secret_key_env, or make the file "
            "unreadable to others (chmod o-r)"
        )
    if isinstance(url, str) and url_has_password(url):
        problems.append(
            "at 'database.url': the URL holds a password and the file is readable "
            f"by other users; {advice}"
        )
    return problems
