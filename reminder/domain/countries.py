"""Country names as offices write them -> ISO 3166-1 alpha-2 codes.

A name is looked up, in this order:
1. the office's own spellings, `[countries] aliases` ("Tunis" = "TN");
2. ISO's codes and names as pycountry has them ("GE", "GEO", "Georgia", "Iran, Islamic
   Republic of", and the short form before a comma, "Iran");
3. CLDR's territory names in every locale Babel ships: "Gürcistan", "Azerbaycan",
   "Bosna-Hersek", "Géorgie", "Turkey" (which pycountry 26 no longer knows) ...
   A name that locales give to different countries ("Kongo") is never guessed;
4. pycountry's fuzzy search: an APPROXIMATE match, which the importer warns about.

The index of 1-3 is built once per process, on first use (about a second and 30 MB:
pycountry's JSON and a thousand locales, each read and let go), and each written form
is looked up once: an import repeats the same few dozen country texts over a million
rows, so a row costs a dict lookup. The only module that imports pycountry, and the
only one that reads Babel's territory names to match them.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import pycountry
from babel.localedata import clear_caches, load, locale_identifiers

from reminder.domain.records import CountryMatch

_NAME_ATTRIBUTES = ("alpha_2", "alpha_3", "name", "common_name", "official_name")

#: The office's own spellings: (written form, alpha-2 code) pairs. A frozenset, so
#: that it hashes once however many rows look a country up with it.
Aliases = frozenset[tuple[str, str]]
NO_ALIASES: Aliases = frozenset()


def aliases_of(mapping: Mapping[str, str]) -> Aliases:
    """Return `[countries] aliases` as the lookup takes them."""
    return frozenset((spelling, code.upper()) for spelling, code in mapping.items())


@dataclass(frozen=True, slots=True)
class CountryLookup:
    """What a country as written matched: the alpha-2 code and pycountry's name, or None."""

    code: str | None
    name: str | None
    match: CountryMatch


def _key(text: str) -> str:
    """Return the form a name is matched by: spaces collapsed, case folded, and the
    Turkish i's made one ("TÜRKİYE", "Türkiye"; "KIRGIZISTAN", "Kırgızistan")."""
    key = " ".join(text.split()).casefold()
    if key.isascii():
        return key
    return key.replace("i\N{COMBINING DOT ABOVE}", "i").replace(
        "\N{LATIN SMALL LETTER DOTLESS I}", "i"
    )


def _unambiguous(forms: Mapping[str, set[str]]) -> dict[str, str | None]:
    """Return form -> code; None marks a form shared by several countries."""
    return {form: next(iter(codes)) if len(codes) == 1 else None for form, codes in forms.items()}


def _cldr_names() -> dict[str, set[str]]:
    """Return every territory name of every locale Babel ships -> the codes it names."""
    names: dict[str, set[str]] = defaultdict(set)
    for identifier in locale_identifiers():
        # Each locale's own names: what it inherits is its parent's, read in its turn.
        territories = load(identifier, merge_inherited=False).get("territories", {})
        # Babel keeps every locale it loads for the life of the process: a thousand of
        # them held 230 MB. Let each go once read (and its unmerged data with it).
        clear_caches()
        for code, name in territories.items():
            # Regions ("150", "EU") are not countries; every country has two letters.
            if len(code) == 2 and code.isalpha():
                names[_key(name)].add(code)
    return names


def _known_codes() -> set[str]:
    return {country.alpha_2 for country in pycountry.countries}


@functools.cache
def _exact_index() -> dict[str, str | None]:
    """Return written form -> alpha-2 code; None marks a form shared by several countries.

    Each source overrides the one before it: CLDR's names in every locale, then the short
    forms before a comma ("Iran, Islamic Republic of" -> "Iran"), then ISO's codes and
    full names. So "Congo" stays the Republic of the Congo rather than becoming
    ambiguous with "Congo, The Democratic Republic of the".
    """
    known = _known_codes()
    full: dict[str, set[str]] = defaultdict(set)
    short: dict[str, set[str]] = defaultdict(set)
    for country in pycountry.countries:
        for attribute in _NAME_ATTRIBUTES:
            value = getattr(country, attribute, None)
            if value:
                full[_key(value)].add(country.alpha_2)
        short[_key(country.name.split(",")[0])].add(country.alpha_2)
    cldr = {form: codes & known for form, codes in _cldr_names().items() if codes & known}
    index: dict[str, str | None] = {}
    for forms in (cldr, short, full):
        index.update(_unambiguous(forms))
    return index


@functools.lru_cache(maxsize=4)
def _alias_index(aliases: Aliases) -> dict[str, str]:
    return {_key(spelling): code for spelling, code in aliases}


@functools.lru_cache(maxsize=4096)
def lookup_country(text: str, aliases: Aliases = NO_ALIASES) -> CountryLookup:
    """Match a country as written ("Georgia", "Gürcistan", "USA", "Tunis") to an ISO code.

    EXACT: the trimmed, case-insensitive text is one of `aliases` (the office's own
    spellings), a country's alpha-2 or alpha-3 code, its name, common name, official
    name, or the part of its name before a comma, or a CLDR territory name in any
    locale. A form that several countries share ("Korea") is never guessed: UNKNOWN.
    APPROXIMATE: only pycountry's fuzzy search finds it; its first result is taken.
    UNKNOWN: neither; the code is None.
    The caller decodes HTML entities first. Returns a CountryLookup; never raises.
    """
    key = _key(text)
    if not key:
        return CountryLookup(None, None, CountryMatch.UNKNOWN)
    alias = _alias_index(aliases).get(key) if aliases else None
    if alias is not None:
        return CountryLookup(alias, country_name(alias), CountryMatch.EXACT)
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
