"""A synthetic portfolio: an agreements table as an office exports it, and its config.

Partners spread over every country pycountry knows, one coordinator per country (plus
a pool of staff named in the table's own coordinator column), effective-until dates
spread evenly from five years before the reference day to ten years after it, and one
partner in ten with an older agreement in the same programme that the import marks
superseded. The same seed gives the same files.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from reminder.domain.countries import lookup_country
from reminder.domain.records import CountryMatch

#: The day the portfolio is generated for; runs and queries are judged as of this day.
REFERENCE_DAY = date(2025, 3, 3)
YEARS_BEHIND = 5
YEARS_AHEAD = 10
TERM_YEARS = 5
PROGRAMMES = ("Erasmus+ KA131", "Mevlana", "Bilateral", "Farabi")
STAFF_POOL = 500
HEADER = (
    "University",
    "Country",
    "Conclusion date",
    "Effective until",
    "Programme",
    "Coordinator email",
    "Notes",
)
_NAME_STEMS = (
    "State University",
    "Technical University",
    "Üniversitesi",
    "University of Applied Sciences",
    "Institute of Technology",
    "Universidad Nacional",
    "Université",
)


@dataclass(frozen=True)
class Portfolio:
    """A generated table and what it holds."""

    csv_path: Path
    rows: int
    countries: tuple[tuple[str, str], ...]  # (alpha-2 code, name as written)


def country_names() -> tuple[tuple[str, str], ...]:
    """Return (code, name) for every country whose name the importer matches exactly."""
    import pycountry

    found: list[tuple[str, str]] = []
    for country in pycountry.countries:
        lookup = lookup_country(country.name)
        if lookup.match is CountryMatch.EXACT and lookup.code == country.alpha_2:
            found.append((country.alpha_2, country.name))
    return tuple(sorted(found))


def generate(path: Path, rows: int, *, seed: int = 20250303) -> Portfolio:
    """Write a table of `rows` agreements to `path` (CSV, UTF-8) unless it exists already.

    An existing file with a matching `.json` description is reused, so repeated runs
    measure the same file. Returns the Portfolio.
    """
    countries = country_names()
    description = path.with_suffix(".json")
    wanted = {"rows": rows, "seed": seed, "reference_day": REFERENCE_DAY.isoformat()}
    if path.exists() and description.exists() and json.loads(description.read_text()) == wanted:
        return Portfolio(path, rows, countries)
    path.parent.mkdir(parents=True, exist_ok=True)
    random_numbers = random.Random(seed)
    first_day = _years_before(REFERENCE_DAY, YEARS_BEHIND)
    span = (_years_before(REFERENCE_DAY, -YEARS_AHEAD) - first_day).days
    temporary = path.with_suffix(".tmp")
    written = 0
    with temporary.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        partner = 0
        while written < rows:
            partner += 1
            _, country = countries[random_numbers.randrange(len(countries))]
            name = f"{country} {_NAME_STEMS[partner % len(_NAME_STEMS)]} No. {partner}"
            programme = PROGRAMMES[random_numbers.randrange(len(PROGRAMMES))]
            until = first_day + timedelta(days=random_numbers.randrange(span))
            email = ""
            if random_numbers.random() < 0.05:
                email = f"staff{random_numbers.randrange(STAFF_POOL)}@example.edu"
            # Agreements ending more than a term ahead were signed for longer terms.
            concluded = min(
                _years_before(until, TERM_YEARS),
                REFERENCE_DAY - timedelta(days=random_numbers.randrange(365)),
            )
            writer.writerow(_row(name, country, concluded, until, programme, email))
            written += 1
            older_until = concluded - timedelta(days=1)
            older_concluded = _years_before(older_until, TERM_YEARS)
            if written < rows and random_numbers.random() < 0.1 and older_until >= first_day:
                writer.writerow(
                    _row(name, country, older_concluded, older_until, programme, email, "previous")
                )
                written += 1
    temporary.replace(path)
    description.write_text(json.dumps(wanted))
    return Portfolio(path, rows, countries)


def _row(
    name: str,
    country: str,
    concluded: date,
    until: date,
    programme: str,
    email: str,
    notes: str = "",
) -> tuple[str, ...]:
    return (name, country, concluded.isoformat(), until.isoformat(), programme, email, notes)


def _years_before(day: date, years: int) -> date:
    """Return the same day `years` earlier (28 February for 29 February)."""
    year = day.year - years
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def write_config(
    path: Path,
    *,
    database_url: str,
    countries: tuple[tuple[str, str], ...],
    smtp_port: int,
    outbox: Path,
    windows: tuple[int, ...] = (180, 90, 30, 7),
) -> Path:
    """Write the reminder config for the portfolio: one coordinator per country.

    Mail goes by SMTP, in clear, to 127.0.0.1:`smtp_port` (the sink). Returns `path`.
    """
    lines = [
        'timezone = "UTC"',
        "[database]",
        f"url = {json.dumps(database_url)}",
        "[agreements]",
        f"term_years = {TERM_YEARS}",
        'default_programme = "Erasmus+ KA131"',
        "[reminders]",
        f"windows = [{', '.join(map(str, windows))}]",
        "notify_expired = true",
        "expired_lookback_days = 30",
        'default_recipient = "office@example.edu"',
        "[mail]",
        'transport = "smtp"',
        'from = "Agreement reminders <reminder@example.edu>"',
        'reply_to = "international@example.edu"',
        f"outbox_dir = {json.dumps(str(outbox))}",
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {smtp_port}",
        'security = "none"',
        "timeout_seconds = 120",
    ]
    for code, name in countries:
        lines += [
            "[[coordinators]]",
            f"name = {json.dumps(f'Coordinator for {name}')}",
            f'email = "coordinator-{code.lower()}@example.edu"',
            f'countries = ["{code}"]',
            'programmes = ["*"]',
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
