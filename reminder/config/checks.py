"""The configuration schema: every key, its type, default and check.

config.py turns the checked document into frozen dataclasses; this module only says
what a valid document looks like.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from email.utils import getaddresses
from typing import Any

import pycountry

from reminder.config.toml_schema import ArrayOfTables, ListOf, Table, Value

SECRET_KEYS = ("password", "password_file", "password_credential", "password_env")

# Deliberately loose: one @, no spaces. A local MTA accepts user@localhost; the SMTP
# server is the judge of the rest.
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/\-?LW#]+$")

# --- value checks: each returns None when fine, else a reason -------------------------


def check_timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r} (use an IANA name such as 'Europe/Istanbul')"
    return None


def check_address(value: str) -> str | None:
    if "\r" in value or "\n" in value:
        return "an e-mail address cannot contain a line break"
    parsed = getaddresses([value])
    if len(parsed) != 1 or not _ADDRESS.match(parsed[0][1]):
        return f"{value!r} is not an e-mail address"
    return None


def check_bare_address(value: str) -> str | None:
    """Check an address that keys the ledger and routing: no display name allowed."""
    if not _ADDRESS.match(value):
        reason = check_address(value)
        if reason is None:
            return f"{value!r}: give the bare address (like a@example.edu), not a display name"
        return reason
    return None


def _check_cron(value: str) -> str | None:
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        return f"{value!r} is not a cron expression of 5 fields (minute hour day month weekday)"
    return None


def _positive(value: int | float) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


def _not_negative(value: int) -> str | None:
    return None if value >= 0 else f"must be 0 or more, got {value}"


def _in_range(low: int, high: int) -> Any:
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"must be {low} to {high}, got {value}"

    return check


def _one_of(*choices: str) -> Any:
    def check(value: str) -> str | None:
        if value in choices:
            return None
        return f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"

    return check


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _check_windows(windows: list[int]) -> str | None:
    if not windows:
        return "needs at least one window"
    if len(set(windows)) != len(windows):
        return "lists a window twice"
    return None


def _check_country_code(value: str) -> str | None:
    if value == "*" or pycountry.countries.get(alpha_2=value.upper()) is not None:
        return None
    return f"{value!r} is not an ISO 3166-1 alpha-2 country code (or '*')"


def _check_secret_sources(table: Mapping[str, Any]) -> str | None:
    given = [key for key in SECRET_KEYS if table.get(key) is not None]
    if len(given) > 1:
        return f"give the password one way only, not {' and '.join(given)}"
    return None


def _secret_keys() -> dict[str, Value]:
    return {
        "password": Value(str),
        "password_file": Value(str, check=_non_empty),
        "password_credential": Value(str, check=_non_empty),
        "password_env": Value(str, check=_non_empty),
    }


SCHEMA = Table(
    {
        "timezone": Value(str, check=check_timezone),
        "database": Table(
            {"url": Value(str, check=_non_empty), **_secret_keys()},
            check=_check_secret_sources,
        ),
        "agreements": Table(
            {
                "term_years": Value(int, 5, _in_range(1, 100)),
                "default_programme": Value(str, "Bilateral", _non_empty),
            }
        ),
        "reminders": Table(
            {
                "windows": ListOf(
                    Value(int, check=_in_range(1, 3660)), (180, 90, 30, 7), _check_windows
                ),
                "notify_expired": Value(bool, True),
                "expired_lookback_days": Value(int, 30, _not_negative),
                "default_recipient": Value(str, check=check_bare_address),
            }
        ),
        "coordinators": ArrayOfTables(
            Table(
                {
                    "name": Value(str, check=_non_empty),
                    "email": Value(str, check=check_bare_address),
                    "countries": ListOf(Value(str, check=_check_country_code), ("*",)),
                    "programmes": ListOf(Value(str, check=_non_empty), ("*",)),
                },
                check=lambda t: None if t["email"] else "a coordinator needs an email",
            )
        ),
        "digest": Table(
            {
                "send_when_empty": Value(bool, False),
                "office_summary_to": ListOf(Value(str, check=check_address)),
            }
        ),
        "escalation": Table(
            {
                "at_window": Value(int, check=_not_negative),
                "cc": ListOf(Value(str, check=check_address)),
            }
        ),
        "mail": Table(
            {
                "transport": Value(str, "outbox", _one_of("outbox", "smtp")),
                "from": Value(str, check=check_address),
                "reply_to": Value(str, check=check_address),
                "outbox_dir": Value(str, check=_non_empty),
                "templates_dir": Value(str, check=_non_empty),
            }
        ),
        "smtp": Table(
            {
                "host": Value(str, "localhost", _non_empty),
                "port": Value(int, check=_in_range(1, 65535)),
                "security": Value(str, "starttls", _one_of("starttls", "tls", "none")),
                "username": Value(str, check=_non_empty),
                **_secret_keys(),
                "ca_file": Value(str, check=_non_empty),
                "timeout_seconds": Value(float, 60.0, _positive),
            },
            check=_check_secret_sources,
        ),
        "schedule": Table(
            {
                "reminders": Value(str, "0 8 * * *", _check_cron),
                "digest": Value(str, "0 8 * * mon", _check_cron),
                "timezone": Value(str, check=check_timezone),
                "retry_minutes": Value(int, 15, _in_range(1, 1440)),
            }
        ),
        "ha": Table({"takeover_seconds": Value(int, 60, _in_range(5, 86400))}),
        "health": Table(
            {
                "max_failing_hours": Value(int, 24, _positive),
                "grace_hours": Value(int, 2, _not_negative),
            }
        ),
    }
)
