"""Plain value types that cross layers: what the importer produces and the store keeps.

No I/O and no third-party imports, so every layer may depend on this module.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple


class Precision(enum.StrEnum):
    """How much of a date the source table gave."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"


class UntilSource(enum.StrEnum):
    """How an effective-until date was obtained."""

    GIVEN = "given"  # a full date in the table
    YEAR = "year"  # a bare year: the anniversary of the conclusion date in that year
    TERM = "term"  # nothing given: conclusion date + agreements.term_years


class Lifecycle(enum.StrEnum):
    """Where an agreement stands in its life, independent of today's date."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"
    RETIRED = "retired"


class CountryMatch(enum.StrEnum):
    """How the country as written was matched to an ISO 3166-1 code."""

    EXACT = "exact"
    APPROXIMATE = "approximate"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AgreementInput:
    """One validated agreement read from a table, ready to be stored.

    `partner_key` + `programme_key` + `concluded` identify the agreement across imports.
    """

    partner: str
    partner_key: str
    country: str
    country_code: str | None
    country_match: CountryMatch
    programme: str
    programme_key: str
    notes: str
    concluded: date
    concluded_precision: Precision
    effective_until: date
    effective_until_source: UntilSource
    approximate: bool
    coordinator_email: str | None
    source_file: str
    source_line: int
    warnings: tuple[str, ...] = ()


class AgreementView(NamedTuple):
    """A stored agreement as the pure layers see it (no database types).

    A named tuple rather than a frozen dataclass: a run over a large portfolio builds
    one for every agreement within its horizon, and a tuple is built several times
    faster. Change one with `_replace`.
    """

    id: int
    partner: str
    country: str
    country_code: str | None
    country_match: CountryMatch
    programme: str
    notes: str
    concluded: date
    concluded_precision: Precision
    effective_until: date
    effective_until_source: UntilSource
    approximate: bool
    lifecycle: Lifecycle
    coordinator_email: str | None
    data_warnings: tuple[str, ...] = ()
    retired_reason: str | None = None
    snoozed_until: date | None = None
    superseded_by_id: int | None = None
