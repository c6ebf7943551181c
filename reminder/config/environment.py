"""What the configuration takes from its surroundings: the file's folder, the state
directory and the system's time zone, which fill the defaults no file can know.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Surroundings:
    """Where a config is read: passed to the schema as pydantic's validation context.

    `source` is the config file (None for the built-in defaults); relative paths in it
    are taken from `base`, its folder.
    """

    source: Path | None
    base: Path
    state_dir: Path
    environ: Mapping[str, str]

    @classmethod
    def of(cls, source: Path | None, environ: Mapping[str, str]) -> Surroundings:
        """Return the surroundings of a config read from `source` (None: no file)."""
        base = source.parent if source is not None else Path.cwd()
        return cls(source, base, default_state_dir(environ), environ)


def surroundings(context: Any) -> Surroundings:
    """Return the Surroundings a validation was given, or this process's own without one."""
    if isinstance(context, Surroundings):
        return context
    return Surroundings.of(None, os.environ)


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """Return where the default database and outbox live.

    systemd's StateDirectory= sets $STATE_DIRECTORY; otherwise the user's XDG data
    directory, so a new user can run every command without writing a config.
    """
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    data_home = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "reminder"


def is_time_zone(name: str) -> bool:
    """Return True when `name` is an IANA time zone this system knows."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


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
    return name if name and is_time_zone(name) else "UTC"
