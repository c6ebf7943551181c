"""Country names as offices write them, matched to ISO 3166-1 codes."""

from __future__ import annotations

import pytest

from reminder.domain.countries import country_name, is_country_code, lookup_country
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
    ],
)
def test_exact_matches(text: str, code: str) -> None:
    found = lookup_country(text)
    assert found.match is CountryMatch.EXACT
    assert found.code == code
    assert found.name == country_name(code)


@pytest.mark.parametrize(
    ("text", "code", "name"),
    [
        ("Tunis", "TN", "Tunisia"),
        ("Macedonia", "MK", "North Macedonia"),
        ("Russia", "RU", "Russian Federation"),
    ],
)
def test_approximate_matches_come_from_the_fuzzy_search(text: str, code: str, name: str) -> None:
    found = lookup_country(text)
    assert found.match is CountryMatch.APPROXIMATE
    assert (found.code, found.name) == (code, name)


@pytest.mark.parametrize("text", ["Narnia", "", "   ", "Korea"])
def test_unknown_or_ambiguous_countries_have_no_code(text: str) -> None:
    # "Korea" is the short form of two countries: guessing one would be worse than none.
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
