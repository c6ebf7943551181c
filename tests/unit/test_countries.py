"""Country names as offices write them, matched to ISO 3166-1 codes: the office's
aliases, ISO's names (pycountry), CLDR's names in every locale (Babel), then fuzzy."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from reminder.domain import countries
from reminder.domain.countries import aliases_of, country_name, is_country_code, lookup_country
from reminder.domain.records import CountryMatch


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Georgia", "GE"),  # name
        ("  georgia ", "GE"),  # trimmed, any case
        ("USA", "US"),  # alpha-3
        ("tr", "TR"),  # alpha-2
        ("South Korea", "KR"),  # common name
        ("United States of America", "US"),  # official name
        ("Iran", "IR"),  # "Iran, Islamic Republic of" before the comma
        ("Palestine", "PS"),  # "Palestine, State of"
        ("Congo", "CG"),  # a full name beats "Congo, The Democratic Republic of the"
        ("Bosnia and Herzegovina", "BA"),
        ("Hong Kong", "HK"),
        # CLDR's territory names, in Turkish and other languages:
        ("Gürcistan", "GE"),
        ("Azerbaycan", "AZ"),
        ("Kazakistan", "KZ"),
        ("Bosna-Hersek", "BA"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),  # pycountry 26 knows only "Türkiye"
        ("TÜRKİYE", "TR"),  # Turkish capitals: the dotted İ
        ("KIRGIZISTAN", "KG"),  # ... and the dotless I of "Kırgızistan"
        ("Géorgie", "GE"),
        ("Russia", "RU"),
        # Tunisia's name in Azerbaijani, Bosnian, Croatian, Turkmen and Uzbek, so CLDR
        # knows it: it is no longer the approximate match it was with pycountry alone.
        ("Tunis", "TN"),
    ],
)
def test_exact_matches(text: str, code: str) -> None:
    found = lookup_country(text)
    assert found.match is CountryMatch.EXACT
    assert found.code == code
    assert found.name == country_name(code)


@pytest.mark.parametrize(
    ("text", "code", "name"),
    [("Macedonia", "MK", "North Macedonia")],
)
def test_approximate_matches_come_from_the_fuzzy_search(text: str, code: str, name: str) -> None:
    found = lookup_country(text)
    assert found.match is CountryMatch.APPROXIMATE
    assert (found.code, found.name) == (code, name)


@pytest.mark.parametrize("text", ["Narnia", "", "   ", "Korea", "Kongo"])
def test_unknown_or_ambiguous_countries_have_no_code(text: str) -> None:
    # "Korea" is the short form of two countries, and "Kongo" names both Congos in
    # several languages: guessing one would be worse than none.
    found = lookup_country(text)
    assert found.match is CountryMatch.UNKNOWN
    assert found.code is None
    assert found.name is None


def test_codes() -> None:
    assert is_country_code("GE")
    assert is_country_code("ge")
    assert not is_country_code("XX")
    assert not is_country_code("GEO")
    assert not is_country_code("")
    assert country_name("TN") == "Tunisia"
    assert country_name("XX") is None


def test_the_office_aliases_come_first_and_match_exactly() -> None:
    aliases = aliases_of({"Macedonia": "mk", "ABD": "US", "Georgia": "US"})
    assert lookup_country("macedonia ", aliases) == lookup_country("North Macedonia")
    assert lookup_country("ABD", aliases).code == "US"
    assert lookup_country("ABD").match is CountryMatch.UNKNOWN
    # An alias wins over every name, even an ISO one: it is the office's own word.
    assert lookup_country("Georgia", aliases).code == "US"
    assert lookup_country("Georgia").code == "GE"


def test_a_lookup_is_built_once_and_then_costs_a_dict_lookup() -> None:
    lookup_country("Gürcistan")  # the index is built, once per process
    texts = [f"Country {index}" for index in range(50)] + ["Azerbaycan", "Georgia"]
    for text in texts:
        lookup_country(text)
    start = time.perf_counter()
    for _ in range(20_000):
        for text in ("Azerbaycan", "Georgia"):
            lookup_country(text)
    # 40,000 cached lookups: microseconds each, where building the index takes a second.
    assert time.perf_counter() - start < 1.0
    assert countries._exact_index.cache_info().misses == 1


def test_building_the_index_does_not_keep_every_locale_in_memory() -> None:
    """Babel caches each locale it loads; the index reads a thousand and lets them go."""
    script = (
        "import resource\n"
        "from reminder.domain.countries import lookup_country\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "assert lookup_country('Gürcistan').code == 'GE'\n"
        "from babel import localedata\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before,"
        " len(localedata._cache))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    grown_kib, cached = map(int, result.stdout.split())
    # Kept, they took about 230 MB; read one at a time, the index costs about 30 MB.
    assert grown_kib < 100 * 1024
    assert cached < 5
