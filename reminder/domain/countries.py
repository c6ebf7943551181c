"""Country names as offices write them -> ISO 3166-1 alpha-2 codes, via pycountry.

The only module that imports pycountry. pycountry loads its JSON tables lazily on first
use (a few hundred milliseconds with the fuzzy search), so the name index is built once and
every lookup is cached: an import repeats the same few dozen country names many times.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass

import pycountry

from reminder.domain.records import CountryMatch

_NAME_ATTRIBUTES = ("alpha_2", "alpha_3", "name", "common_name", "official_name")


@dataclass(frozen=True, slots=True)
class CountryLookup:
    """What a country as written matched: the alpha-2 code and pycountry's name, or None."""

    code: str | None
    name: str | None
    match: CountryMatch


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


@functools.cache
def _exact_index() -> dict[str, str | None]:
    """Return written form -> alpha-2 code; None marks a form shared by several countries.

    Codes and full names win over the short form before a comma ("Iran, Islamic Republic
    of" -> "Iran"), so "Congo" stays the Republic of the Congo rather than becoming
    ambiguous with "Congo, The Democratic Republic of the".
    """
    full: dict[str, set[str]] = defaultdict(set)
    short: dict[str, set[str]] = defaultdict(set)
    for country in pycountry.countries:
        for attribute in _NAME_ATTRIBUTES:
            value = getattr(country, attribute, None)
            if value:
                full[_key(value)].add(country.alpha_2)
        short[_key(country.name.split(",")[0])].add(country.alpha_2)
    index: dict[str, str | None] = {}
    for forms in (short, full):  # full names last, so they override short forms
        for form, codes in forms.items():
            index[form] = next(iter(codes)) if len(codes) == 1 else None
    return index


@functools.lru_cache(maxsize=1024)
def lookup_country(text: str) -> CountryLookup:
    """Match a country as written ("Georgia", "USA", "Iran", "Tunis") to an ISO code.

    EXACT: the trimmed, case-insensitive text is a country's alpha-2 or alpha-3 code, its
    name, common name, official name, or the part of its name before a comma. A form that
    several countries share ("Korea") is never guessed: it is UNKNOWN.
    APPROXIMATE: only pycountry's fuzzy search finds it; its first result is taken.
    UNKNOWN: neither; the code is None.
    The caller decodes HTML entities first. Returns a CountryLookup; never raises.
    """
    key = _key(text)
    if not key:
        return CountryLookup(None, None, CountryMatch.UNKNOWN)
    index = _exact_index()
    if key in index:
        code = index[key]
        if code is None:
            return CountryLookup(None, None, CountryMatch.UNKNOWN)
        return CountryLookup(code, country_name(code), CountryMatch.EXACT)
    try:
        found = pycountry.countries.search_fuzzy(key)
    except LookupError:
        return CountryLookup(None, None, CountryMatch.UNKNOWN)
    return CountryLookup(found[0].alpha_2, found[0].name, CountryMatch.APPROXIMATE)


def is_country_code(code: str) -> bool:
    """Return whether `code` is a known ISO 3166-1 alpha-2 code (case-insensitive)."""
    return country_name(code) is not None


@functools.lru_cache(maxsize=512)
def country_name(code: str) -> str | None:
    """Return pycountry's name for an alpha-2 code, or None when the code is unknown."""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return None
    country = pycountry.countries.get(alpha_2=code.upper())
    return None if country is None else str(country.name)
