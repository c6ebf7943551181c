"""Fuzzing the importer: whatever the table, the answer is rows, row problems, or one
InputError, each saying clearly what is wrong and where; never a traceback.

Tables are drawn with any text in their cells (control characters, quotes, line
breaks, HTML, right-to-left text), dates in every written form and in broken ones,
tab, comma or semicolon as the delimiter, and UTF-8 (with or without a BOM), UTF-16,
Windows-1252 or Windows-1254 as the encoding; and files of random bytes. Each test is
bounded by max_examples so that the file runs well within half a minute.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reminder.errors import InputError
from reminder.importing.rows import ImportResult, normalize_key, read_table

# About 12 s for the table test and a few seconds for the others, on a quiet 2-core machine.
BOUNDED = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1252", "cp1254")
DELIMITERS = ("\t", ",", ";")
SUFFIXES = {"\t": ".tsv", ",": ".csv", ";": ".csv"}
HEADERS = {
    "partner": ("University", "Partner", "INSTITUTION"),
    "country": ("Country",),
    "concluded": ("Conclusion date", "Signed", "start date"),
    "effective_until": ("Effective until", "Valid until", "Expiry date"),
    "programme": ("Programme", "Program"),
    "coordinator_email": ("Coordinator email", "Contact e-mail"),
    "notes": ("Notes", "Remarks"),
}
NEEDED = ("partner", "country", "concluded")

# Any character UTF-8 can write: all but lone surrogates.
any_text = st.text(st.characters(codec="utf-8"), max_size=30)
names = st.one_of(
    any_text,
    st.sampled_from(
        (
            "Baku State University",
            "Doğu Akdeniz Üniversitesi",
            "جامعة القاهرة",
            "אוניברסיטת תל אביב",
            "Uni <b>Wien</b><br>*closed",
            "<script>alert(1)</script>",
            "x" * 500,
        )
    ),
)
countries = st.sampled_from(
    ("Azerbaijan", "Türkiye", "Tunis", "Korea", "", "Atlantis", "GE", "Iran")
)


@st.composite
def written_dates(draw: st.DrawFn) -> str:
    """Return a date as an office might write it, or a broken one."""
    day = draw(st.dates(min_value=date(1890, 1, 1), max_value=date(2210, 12, 31)))
    form = draw(st.integers(0, 8))
    if form == 0:
        return f"{day.day:02d}.{day.month:02d}.{day.year}"
    if form == 1:
        return f"{day.day}/{day.month}/{day.year}"
    if form == 2:
        return day.isoformat()
    if form == 3:
        return f"xx.{day.month:02d}.{day.year}"
    if form == 4:
        return str(day.year)
    if form == 5:
        return f"{day.month:02d}.{day.year}"
    if form == 6:  # impossible days and months
        return f"{draw(st.integers(0, 99))}.{draw(st.integers(0, 99))}.{day.year}"
    if form == 7:
        return f"{day.day}.{day.month}.{day.year % 100:02d}"  # a two-digit year
    return draw(any_text)


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, str, str]:
    """Return (text, delimiter, encoding) of a table with a header and up to 12 rows."""
    optional = draw(st.sets(st.sampled_from(sorted(set(HEADERS) - set(NEEDED)))))
    fields = draw(st.permutations([*NEEDED, *sorted(optional)]))
    if draw(st.booleans()) and len(fields) > 1:  # now and then a needed column is missing
        fields = fields[1:]
    header = [draw(st.sampled_from(HEADERS[name])) for name in fields]
    values = {
        "partner": names,
        "country": countries,
        "concluded": written_dates(),
        "effective_until": st.one_of(st.just(""), written_dates()),
        "programme": st.one_of(st.just(""), any_text),
        "coordinator_email": st.sampled_from(("", "a@example.edu", "two@@x", "a@b.c d", "x@y")),
        "notes": any_text,
    }
    rows = draw(
        st.lists(st.tuples(*(values[name] for name in fields)), max_size=12).map(
            lambda rows: [list(row) for row in rows]
        )
    )
    delimiter = draw(st.sampled_from(DELIMITERS))
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator=draw(st.sampled_from(("\n", "\r\n")))
    )
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue(), delimiter, draw(st.sampled_from(ENCODINGS))


def _read(path: Path, fmt: str = "auto") -> ImportResult:
    return read_table(path, fmt=fmt, term_years=5, default_programme="Mevlana")


def _check_input_error(error: InputError, path: Path) -> None:
    """An InputError names the file (or the bad option) on each line, one line each."""
    assert error.problems
    for problem in error.problems:
        assert problem.strip(), "an empty message"
        assert "\n" not in problem and "\r" not in problem, problem
        assert problem.startswith(str(path)) or problem.startswith("unknown table format")
        assert "Traceback" not in problem


@settings(BOUNDED, max_examples=800)
@given(table=tables())
def test_any_table_gives_rows_problems_or_one_clear_error(
    tmp_path: Path, table: tuple[str, str, str]
) -> None:
    text, delimiter, encoding = table
    path = tmp_path / f"agreements{SUFFIXES[delimiter]}"
    path.write_bytes(text.encode(encoding, errors="replace"))
    try:
        result = _read(path)
    except InputError as error:
        _check_input_error(error, path)
        return
    lines = max(1, len(text.splitlines()))
    for problem in result.problems:
        shown = str(problem)
        assert shown.startswith(f"{path}:{problem.line}: "), shown
        assert problem.reason.strip() and "\n" not in shown and "\r" not in shown, shown
        assert 1 < problem.line <= lines + 1
    for warning in result.warnings:
        assert warning.startswith(f"{path}:") and "\n" not in warning, warning
    for row in result.rows:
        assert row.partner and row.partner == " ".join(row.partner.split())
        assert row.partner_key == normalize_key(row.partner)
        assert row.effective_until >= row.concluded
        assert 1 < row.source_line <= lines + 1


@BOUNDED
@given(
    good=st.lists(
        st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)), min_size=2, max_size=8
    ),
    broken=st.sampled_from(
        ("31.02.2019", "2019-13-01", "00.00.2000", "someday", "45000", "1.1.19", "2019/02/31")
    ),
    which=st.integers(min_value=0),
    delimiter=st.sampled_from(DELIMITERS),
)
def test_a_bad_date_is_reported_on_its_own_line(
    tmp_path: Path, good: list[date], broken: str, which: int, delimiter: str
) -> None:
    lines = [delimiter.join(("University", "Country", "Conclusion date"))]
    lines += [
        delimiter.join((f"University {i}", "Georgia", day.isoformat()))
        for i, day in enumerate(good)
    ]
    bad_index = which % len(good)
    lines[bad_index + 1] = delimiter.join((f"University {bad_index}", "Georgia", broken))
    path = tmp_path / f"dates{SUFFIXES[delimiter]}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _read(path)
    assert [problem.line for problem in result.problems] == [bad_index + 2]
    assert re.search(r"conclusion date", result.problems[0].reason), result.problems[0].reason
    assert len(result.rows) == len(good) - 1


@BOUNDED
@given(
    content=st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda data: b"PK\x03\x04" + data),
        st.binary(max_size=300).map(lambda data: b"\xff\xfe" + data),
    ),
    suffix=st.sampled_from((".csv", ".tsv", ".xlsx", ".txt", "")),
    fmt=st.sampled_from(("auto", "csv", "tsv", "xlsx")),
)
def test_random_bytes_never_give_a_traceback(
    tmp_path: Path, content: bytes, suffix: str, fmt: str
) -> None:
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(content)
    try:
        result = _read(path, fmt)
    except InputError as error:
        _check_input_error(error, path)
    else:
        assert all(str(problem).startswith(f"{path}:") for problem in result.problems)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "the file is empty"),
        (b"%PDF-1.7 ...", "not a table: this is a PDF"),
        (b"University,Programme\nX,Y\n", "missing column(s)"),
        (b"\x00\x01\x02binary" * 10, "binary data"),
    ],
)
def test_whole_file_errors_say_what_is_wrong(tmp_path: Path, content: bytes, phrase: str) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        _read(path)
    _check_input_error(raised.value, path)
    assert phrase in str(raised.value)
