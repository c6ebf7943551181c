"""The date rules, one at a time: formats, partial dates, anniversaries, the term."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reminder.domain.dates import (
    PartialDate,
    add_years,
    anniversary,
    days_left,
    format_partial,
    parse_date_text,
    partial_from_cell,
    resolve_effective_until,
)
from reminder.domain.records import Precision, UntilSource

# --- parsing what offices write -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15.06.2017", PartialDate(2017, 6, 15)),
        ("5.6.2017", PartialDate(2017, 6, 5)),
        ("15/06/2017", PartialDate(2017, 6, 15)),
        ("15-06-2017", PartialDate(2017, 6, 15)),
        ("2017-06-15", PartialDate(2017, 6, 15)),
        ("2017-06-15 00:00:00", PartialDate(2017, 6, 15)),
        ("  15.06.2017 ", PartialDate(2017, 6, 15)),
        ("xx.01.2018", PartialDate(2018, 1)),
        ("XX.01.2018", PartialDate(2018, 1)),
        ("??.01.2018", PartialDate(2018, 1)),
        ("01.2023", PartialDate(2023, 1)),
        ("1/2023", PartialDate(2023, 1)),
        ("2023-01", PartialDate(2023, 1)),
        ("2023", PartialDate(2023)),
    ],
)
def test_accepted_formats(text: str, expected: PartialDate) -> None:
    assert parse_date_text(text) == expected


@pytest.mark.parametrize(
    ("text", "precision"),
    [("15.06.2017", Precision.DAY), ("xx.06.2017", Precision.MONTH), ("2017", Precision.YEAR)],
)
def test_precision_follows_what_was_written(text: str, precision: Precision) -> None:
    assert parse_date_text(text).precision is precision


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31.02.2019", "31.02.2019 is not a date: February 2019 has 28 days"),
        ("29.02.2019", "29.02.2019 is not a date: February 2019 has 28 days"),
        ("31.04.2020", "31.04.2020 is not a date: April 2020 has 30 days"),
        ("15.13.2019", "15.13.2019 is not a date: there is no month 13"),
        ("00.01.2019", "00.01.2019 is not a date: there is no day 0"),
        ("xx.00.2019", "xx.00.2019 is not a date: there is no month 0"),
        ("2019-02-30", "2019-02-30 is not a date: February 2019 has 28 days"),
        ("13.2019", "13.2019 is not a date: there is no month 13"),
        ("0999", "0999 is not a date: year 999 is outside 1900-2200"),
        ("15.06.17", "two-digit year is ambiguous"),
        ("xx.06.17", "two-digit year is ambiguous"),
        ("06.17", "two-digit year is ambiguous"),
        ("June 2017", "June 2017 is not a date: expected dd.mm.yyyy"),
        ("15.06/2017", "is not a date: expected"),
        ("", "the date is empty"),
        ("   ", "the date is empty"),
    ],
)
def test_impossible_or_unknown_dates_are_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_date_text(text)
    assert reason in str(error.value)


def test_29_february_of_a_leap_year_is_a_date() -> None:
    assert parse_date_text("29.02.2020") == PartialDate(2020, 2, 29)


def test_partial_date_refuses_a_day_without_month() -> None:
    with pytest.raises(ValueError, match="a day needs a month"):
        PartialDate(2020, None, 5)


def test_earliest_and_latest_bound_a_partial_date() -> None:
    assert PartialDate(2018, 1).earliest() == date(2018, 1, 1)
    assert PartialDate(2018, 2).latest() == date(2018, 2, 28)
    assert PartialDate(2018).earliest() == date(2018, 1, 1)
    assert PartialDate(2018).latest() == date(2018, 12, 31)
    assert (
        PartialDate(2018, 3, 7).earliest() == PartialDate(2018, 3, 7).latest() == date(2018, 3, 7)
    )


# --- spreadsheet cells ------------------------------------------------------------------


def test_cells_of_every_kind() -> None:
    assert partial_from_cell(datetime(2017, 6, 15, 0, 0)) == PartialDate(2017, 6, 15)
    assert partial_from_cell(date(2017, 6, 15)) == PartialDate(2017, 6, 15)
    assert partial_from_cell("15.06.2017") == PartialDate(2017, 6, 15)
    assert partial_from_cell(2023) == PartialDate(2023)
    assert partial_from_cell(2023.0) == PartialDate(2023)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "the date is empty"),
        (True, "True is not a date"),
        (45000, "year 45000 is outside"),  # a spreadsheet serial number, not a year
        (2023.5, "is not a date"),
        (datetime(1066, 10, 14), "year 1066 is outside"),
    ],
)
def test_cells_that_are_not_dates(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        partial_from_cell(value)


# --- anniversaries and the term ---------------------------------------------------------


def test_anniversary_keeps_day_and_month() -> None:
    assert anniversary(date(2017, 6, 15), 2022) == date(2022, 6, 15)


def test_anniversary_of_29_february_falls_on_28_february_in_common_years() -> None:
    assert anniversary(date(2020, 2, 29), 2021) == date(2021, 2, 28)
    assert anniversary(date(2020, 2, 29), 2024) == date(2024, 2, 29)


def test_add_years_uses_the_same_leap_rule() -> None:
    assert add_years(date(2020, 2, 29), 5) == date(2025, 2, 28)
    assert add_years(date(2019, 12, 12), 5) == date(2024, 12, 12)
    assert add_years(date(2024, 2, 29), -4) == date(2020, 2, 29)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2190, 12, 31)), st.integers(0, 9))
def test_add_years_moves_only_the_year(day: date, years: int) -> None:
    moved = add_years(day, years)
    assert moved.year == day.year + years
    assert (moved.month, moved.day) == (day.month, day.day) or (
        (day.month, day.day, moved.day) == (2, 29, 28)
    )


# --- resolving the effective-until date --------------------------------------------------


def test_a_bare_year_is_the_anniversary_of_the_conclusion_date() -> None:
    resolved = resolve_effective_until(PartialDate(2017, 6, 15), PartialDate(2022), 5)
    assert resolved.effective_until == date(2022, 6, 15)
    assert resolved.source is UntilSource.YEAR
    assert resolved.approximate is False
    assert resolved.warning is None


def test_a_bare_year_after_29_february_uses_28_february() -> None:
    resolved = resolve_effective_until(PartialDate(2020, 2, 29), PartialDate(2025), 5)
    assert resolved.effective_until == date(2025, 2, 28)


def test_no_until_means_conclusion_plus_term() -> None:
    resolved = resolve_effective_until(PartialDate(2019, 12, 12), None, 5)
    assert resolved.effective_until == date(2024, 12, 12)
    assert resolved.source is UntilSource.TERM
    assert resolved.approximate is False
    three_years = resolve_effective_until(PartialDate(2019, 12, 12), None, 3)
    assert three_years.effective_until == date(2022, 12, 12)


def test_unknown_day_counts_from_the_first_of_the_month_and_is_approximate() -> None:
    concluded = parse_date_text("xx.01.2018")
    with_year = resolve_effective_until(concluded, PartialDate(2023), 5)
    assert with_year.effective_until == date(2023, 1, 1)
    assert with_year.source is UntilSource.YEAR
    assert with_year.approximate is True
    with_term = resolve_effective_until(concluded, None, 5)
    assert with_term.effective_until == date(2023, 1, 1)
    assert with_term.source is UntilSource.TERM
    assert with_term.approximate is True


def test_a_year_only_conclusion_counts_from_1_january_and_is_approximate() -> None:
    resolved = resolve_effective_until(PartialDate(2018), None, 5)
    assert resolved.effective_until == date(2023, 1, 1)
    assert resolved.approximate is True


def test_full_until_dates_are_used_as_given_even_with_a_partial_conclusion() -> None:
    resolved = resolve_effective_until(PartialDate(2018, 1), PartialDate(2022, 9, 30), 5)
    assert resolved.effective_until == date(2022, 9, 30)
    assert resolved.source is UntilSource.GIVEN
    assert resolved.approximate is False
    assert resolved.warning is None


def test_a_month_year_until_uses_the_first_day_and_is_approximate() -> None:
    resolved = resolve_effective_until(PartialDate(2018, 1, 20), parse_date_text("01.2023"), 5)
    assert resolved.effective_until == date(2023, 1, 1)
    assert resolved.source is UntilSource.GIVEN
    assert resolved.approximate is True


def test_a_month_year_until_in_the_conclusion_month_starts_no_earlier_than_it() -> None:
    resolved = resolve_effective_until(PartialDate(2000, 6, 2), parse_date_text("xx.06.2000"), 5)
    assert resolved.effective_until == date(2000, 6, 2)
    assert resolved.approximate is True


def test_a_year_that_disagrees_with_the_term_is_kept_with_a_warning() -> None:
    resolved = resolve_effective_until(PartialDate(2018, 3, 1), PartialDate(2021), 5)
    assert resolved.effective_until == date(2021, 3, 1)
    assert resolved.source is UntilSource.YEAR
    assert resolved.warning is not None
    assert "2021" in resolved.warning
    assert "2023" in resolved.warning


def test_an_until_before_the_conclusion_is_refused() -> None:
    with pytest.raises(ValueError, match=r"effective-until 2016 is before .* 15\.06\.2017"):
        resolve_effective_until(PartialDate(2017, 6, 15), PartialDate(2016), 5)
    with pytest.raises(ValueError, match="is before"):
        resolve_effective_until(PartialDate(2017, 6, 15), PartialDate(2017, 6, 14), 5)


def test_the_term_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one year"):
        resolve_effective_until(PartialDate(2017, 6, 15), None, 0)


# --- days left and display --------------------------------------------------------------


def test_days_left_counts_the_last_day_as_in_force() -> None:
    until = date(2024, 2, 5)
    assert days_left(until, date(2024, 1, 6)) == 30
    assert days_left(until, date(2024, 2, 5)) == 0
    assert days_left(until, date(2024, 2, 6)) == -1


@pytest.mark.parametrize(
    ("precision", "text"),
    [(Precision.DAY, "05.06.2017"), (Precision.MONTH, "06.2017"), (Precision.YEAR, "2017")],
)
def test_format_partial(precision: Precision, text: str) -> None:
    assert format_partial(date(2017, 6, 5), precision) == text


def test_a_partial_date_prints_as_written() -> None:
    assert str(parse_date_text("xx.01.2018")) == "01.2018"
