"""The import's shortcuts give what the long way gives: keys, clean-up, dates, lines.

An import takes a quicker path for the common case (ASCII names, cells without HTML,
dates seen before, rows without problems); each test here holds one shortcut to the
result of the general rule.
"""

from __future__ import annotations

import calendar
import html
import itertools
import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reminder.domain.dates import PartialDate, parse_date_text
from reminder.domain.names import normalize_key
from reminder.domain.records import AgreementInput, CountryMatch, Precision, UntilSource
from reminder.importing.cells import clean, split_partner
from reminder.importing.tables import _LineCounter, _looks_turkish
from reminder.store.driver_writes import _Remembered
from reminder.store.import_identities import Place
from reminder.store.import_writes import _row_problems

_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_CELL_TEXT = st.lists(
    st.sampled_from([*"aZ09 _-.,;'()&#;xX\t\n\xa0é", "&amp;", "&#233;", "&nbsp;", "&lt;b&gt;"])
).map("".join)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_names_get_the_key_the_general_rule_gives(text: str) -> None:
    # A no-break space decomposes to a plain space, which the key drops at the end: the
    # text then takes the general (non-ASCII) path and must come out the same.
    assert normalize_key(text) == normalize_key(text + "\N{NO-BREAK SPACE}")


def test_non_ascii_names_still_lose_their_accents() -> None:
    assert normalize_key("Université_Paris") == normalize_key("UNIVERSITE PARIS")


@given(_CELL_TEXT)
def test_cells_without_tags_are_cleaned_as_cells_with_tags(text: str) -> None:
    assert clean(text) == " ".join(html.unescape(_TAG.sub(" ", text)).split())


@given(_CELL_TEXT)
def test_a_partner_without_html_has_no_fragment_note(text: str) -> None:
    assert split_partner(text) == (clean(text), "")


def test_a_partner_with_an_html_fragment_keeps_its_note() -> None:
    assert split_partner("Işık University <sup>*cancelled</sup>") == (
        "Işık University",
        "cancelled",
    )


@pytest.mark.parametrize("year", [1900, 1999, 2000, 2023, 2024, 2100, 2200])
def test_month_lengths_follow_the_calendar(year: int) -> None:
    for month in range(1, 13):
        days = calendar.monthrange(year, month)[1]
        assert PartialDate(year, month).latest() == date(year, month, days)
        assert PartialDate(year, month, days).earliest() == date(year, month, days)
        with pytest.raises(ValueError, match=f"{calendar.month_name[month]} {year} has {days}"):
            PartialDate(year, month, days + 1)


def test_a_remembered_date_is_the_same_and_a_bad_one_fails_every_time() -> None:
    assert parse_date_text("29.02.2024") == parse_date_text(" 29.02.2024 ")
    for _ in range(2):
        with pytest.raises(ValueError, match="February 2023 has 28 days"):
            parse_date_text("29.02.2023")


def test_remembered_conversions_run_once_per_distinct_value() -> None:
    calls: list[object] = []

    def convert(value: object) -> str:
        calls.append(value)
        return f"<{value}>"

    remembered = _Remembered(convert)
    values = [date(2024, 1, 1), None, date(2024, 1, 1), "day", None, "day"]

    assert [remembered[value] for value in values] == [f"<{value}>" for value in values]
    assert calls == [date(2024, 1, 1), None, "day"]


def _row(line: int, partner_key: str, **overrides: object) -> AgreementInput:
    values: dict[str, object] = {
        "partner": partner_key.title(),
        "partner_key": partner_key,
        "country": "Portugal",
        "country_code": "PT",
        "country_match": CountryMatch.EXACT,
        "programme": "Erasmus+",
        "programme_key": "erasmus",
        "notes": "",
        "concluded": date(2021, 6, 1),
        "concluded_precision": Precision.DAY,
        "effective_until": date(2026, 6, 1),
        "effective_until_source": UntilSource.GIVEN,
        "approximate": False,
        "coordinator_email": None,
        "source_file": "a.csv",
        "source_line": line,
    }
    values.update(overrides)
    return AgreementInput(**values)  # type: ignore[arg-type]


def test_rows_without_problems_pass_the_check() -> None:
    rows = [_row(line, f"partner {line}") for line in range(2, 500)]
    assert _row_problems(rows, [None] * len(rows)) == []


def test_every_problem_is_named_in_row_order_among_many_good_rows() -> None:
    rows = [_row(line, f"partner {line}") for line in range(2, 500)]
    rows[10] = _row(12, "partner 12", coordinator_email="x" * 321)
    rows[20] = _row(22, "partner 3")  # met before, at line 3
    rows[30] = _row(32, "partner 32", country="y" * 121, source_file="b.csv")
    earlier: list[Place | None] = [None] * len(rows)
    earlier[20] = Place("a.csv", 3, new=False)

    assert _row_problems(rows, earlier) == [
        "a.csv:12: coordinator_email is 321 characters long, at most 320 fit",
        "a.csv:22: same partner, programme and conclusion date as a.csv:3",
        "b.csv:32: country is 121 characters long, at most 120 fit",
    ]


_TEXT_WITH_BREAKS = st.lists(
    st.sampled_from([*'ab ;,"', "\r", "\n", "\r\n", "\v", "\f", "\x1c", "\x85", "\u2028", "é"])
).map("".join)


@given(_TEXT_WITH_BREAKS, st.lists(st.integers(min_value=0), max_size=4))
def test_lines_read_in_pieces_are_counted_as_splitlines_counts_them(
    text: str, cuts: list[int]
) -> None:
    # A file is decoded a chunk at a time; a chunk may end anywhere, inside "\r\n" too.
    counter = _LineCounter()
    bounds = sorted({0, len(text), *(cut % (len(text) + 1) for cut in cuts)})
    for start, end in itertools.pairwise(bounds):
        counter.add(text[start:end])
    assert counter.total() == len(text.splitlines())


@given(
    st.binary(max_size=200) | st.sampled_from([b"Do\xf0u Ba\xfekent", b"Gu\xf0mundsson \xe1 \xfe"]),
    st.integers(min_value=0),
)
def test_the_code_page_vote_counts_every_word(data: bytes, cut: int) -> None:
    turkish = icelandic = 0
    for word in re.findall(rb"[A-Za-z\x80-\xff]{2,}", data):
        letters = set(word)
        if letters & set(b"\xd0\xdd\xde\xf0\xfd\xfe"):
            if letters & set(b"\xe1\xe9\xed\xf3\xfa\xe6\xc1\xc9\xcd\xd3\xda\xc6"):
                icelandic += 1
            else:
                turkish += 1
    # The bytes come in chunks: a word cut between two is still one word.
    cut %= len(data) + 1
    assert _looks_turkish([data[:cut], data[cut:]]) == (turkish > icelandic)
