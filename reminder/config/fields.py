"""The value types the config schema is written in.

Each check is a pydantic after-validator that raises ValueError with the reason a user
reads ("must be 1 to 3660, got -3"), and says in `allows` what it accepts, for the
generated reference. `setting` declares a key: its default, description and example.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pycountry
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from reminder.config.environment import is_time_zone, surroundings
from reminder.config.languages import catalog_languages, language_reason

T = TypeVar("T")

# Deliberately loose: one @, no spaces. A local MTA accepts user@localhost; the SMTP
# server is the judge of the rest.
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class Table(BaseModel):
    """A table of the config file: strict, closed to unknown keys, frozen."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, validate_by_name=True, validate_by_alias=True
    )


@dataclass(frozen=True)
class Check:
    """A check of one value: `reason(value)` is None when it is fine."""

    allows: str
    reason: Callable[[Any], str | None]

    def __call__(self, value: T) -> T:
        problem = self.reason(value)
        if problem is not None:
            raise ValueError(problem)
        return value


def between(low: int, high: int) -> Check:
    """Return a check that a number is from `low` to `high`."""
    return Check(
        f"{low} to {high}",
        lambda value: None if low <= value <= high else f"must be {low} to {high}, got {value}",
    )


def one_of(*choices: str) -> Check:
    """Return a check that a string is one of `choices`."""
    listed = ", ".join(repr(choice) for choice in choices)
    return Check(
        f"one of {listed}",
        lambda value: None if value in choices else f"must be one of {listed}, got {value!r}",
    )


NOT_NEGATIVE = Check("0 or more", lambda v: None if v >= 0 else f"must be 0 or more, got {v}")
POSITIVE = Check("greater than 0", lambda v: None if v > 0 else f"must be greater than 0, got {v}")
NON_EMPTY = Check("not empty", lambda value: None if value.strip() else "must not be empty")


def _time_zone_reason(value: str) -> str | None:
    if is_time_zone(value):
        return None
    return f"unknown time zone {value!r} (use an IANA name such as 'Europe/Istanbul')"


def _address_reason(value: str) -> str | None:
    if "\r" in value or "\n" in value:
        return "an e-mail address cannot contain a line break"
    parsed = getaddresses([value])
    if len(parsed) != 1 or not _ADDRESS.match(parsed[0][1]):
        return f"{value!r} is not an e-mail address"
    return None


def _bare_address_reason(value: str) -> str | None:
    """An address that keys the ledger and routing: no display name allowed."""
    if _ADDRESS.match(value):
        return None
    reason = _address_reason(value)
    if reason is None:
        return f"{value!r}: give the bare address (like a@example.edu), not a display name"
    return reason


def _country_reason(value: str) -> str | None:
    if value == "*" or pycountry.countries.get(alpha_2=value.upper()) is not None:
        return None
    return f"{value!r} is not an ISO 3166-1 alpha-2 country code (or '*')"


def _alias_code_reason(value: str) -> str | None:
    if pycountry.countries.get(alpha_2=value.upper()) is not None:
        return None
    return f"{value!r} is not an ISO 3166-1 alpha-2 country code"


def _windows_reason(windows: tuple[int, ...]) -> str | None:
    if not windows:
        return "needs at least one window"
    if len(set(windows)) != len(windows):
        return "lists a window twice"
    return None


def tuple_from_list(value: Any) -> Any:
    """TOML gives arrays as lists; the config keeps them as tuples (it is frozen)."""
    return tuple(value) if isinstance(value, list) else value


def _resolve_path(value: Any, info: ValidationInfo) -> Any:
    """Take a relative path from the config file's folder; `~` is the user's home."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        raise ValueError("must not be empty")
    return surroundings(info.context).base / Path(value).expanduser()


TimeZoneName = Annotated[str, AfterValidator(Check("an IANA time zone name", _time_zone_reason))]
Address = Annotated[
    str, AfterValidator(Check("an e-mail address; a display name is allowed", _address_reason))
]
BareAddress = Annotated[
    str, AfterValidator(Check("an e-mail address without a display name", _bare_address_reason))
]
CountryCode = Annotated[
    str,
    AfterValidator(Check("an ISO 3166-1 alpha-2 code, or '*'", _country_reason)),
    AfterValidator(str.upper),
]
#: The code an office's spelling of a country stands for: one country, never '*'.
AliasCode = Annotated[
    str,
    AfterValidator(Check("an ISO 3166-1 alpha-2 code", _alias_code_reason)),
    AfterValidator(str.upper),
]
NonEmpty = Annotated[str, AfterValidator(NON_EMPTY)]
#: A language mail is written in: "en", or one with a catalog in reminder/locale/.
Language = Annotated[
    str,
    AfterValidator(
        Check(f"a language with a catalog: {', '.join(catalog_languages())}", language_reason)
    ),
]
#: A path; a relative one is taken from the folder the config file is in.
ConfigPath = Annotated[Path, BeforeValidator(_resolve_path)]
Addresses = Annotated[tuple[Address, ...], BeforeValidator(tuple_from_list)]
Windows = Annotated[
    tuple[Annotated[int, AfterValidator(between(1, 3660))], ...],
    BeforeValidator(tuple_from_list),
    AfterValidator(Check("distinct, at least one", _windows_reason)),
    AfterValidator(lambda windows: tuple(sorted(windows, reverse=True))),
]
Countries = Annotated[tuple[CountryCode, ...], BeforeValidator(tuple_from_list)]
Names = Annotated[tuple[NonEmpty, ...], BeforeValidator(tuple_from_list)]

_UNSET: Any = object()


def setting(
    default: Any,
    description: str,
    *,
    example: Any = _UNSET,
    in_example_config: bool = False,
    default_text: str | None = None,
    alias: str | None = None,
) -> Any:
    """Declare a key: its default, what it means, and an example value.

    `in_example_config`: config.example.toml sets the example (marked as one) rather
    than showing it commented out. `default_text` says what a default that depends on
    the surroundings (state directory, system time zone) is. `alias` is the key's name
    in the file when the attribute's differs (`from`, a Python keyword).
    """
    extra: dict[str, Any] = {"in_example_config": in_example_config}
    if default_text is not None:
        extra["default_text"] = default_text
    return Field(
        default,
        description=description,
        examples=None if example is _UNSET else [example],
        json_schema_extra=extra,
        validation_alias=alias,
    )
