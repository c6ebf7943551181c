"""Tables -> validated rows: the office's real file, its other shapes, and bad input."""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from reminder.domain.countries import aliases_of
from reminder.domain.records import AgreementInput, CountryMatch, Precision, UntilSource
from reminder.errors import InputError
from reminder.importing.rows import (
    ImportResult,
    RowProblem,
    TableWarning,
    count_lines,
    iter_table,
    normalize_key,
    read_table,
)

SAMPLE = Path(__file__).parents[2] / "examples" / "agreements-2022.tsv"
SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")
TERM_YEARS = 5
HEADER = "NO.\tUNIVERSITY\tCOUNTRY\tCONCLUSION DATE\tEFFECTIVE UNTIL"


def read(path: Path, *, fmt: str = "auto", sheet: str | None = None) -> ImportResult:
    return read_table(
        path, fmt=fmt, sheet=sheet, term_years=TERM_YEARS, default_programme="Mevlana"
    )


def sample_lines() -> list[list[str]]:
    """Return the sample's physical lines split into cells (a blank line is [])."""
    return [line.split("\t") if line else [] for line in SAMPLE_TEXT.split("\n")]


def without_source(rows: list[AgreementInput]) -> list[AgreementInput]:
    return [dataclasses.replace(row, source_file="") for row in rows]


def write_tsv(tmp_path: Path, *lines: str, name: str = "table.tsv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sample() -> ImportResult:
    return read(SAMPLE)


def row_number(sample: ImportResult, number: int) -> AgreementInput:
    """Return the row whose NO. cell is `number`, found through its physical line."""
    line = next(
        index
        for index, cells in enumerate(sample_lines(), start=1)
        if cells and cells[0] == str(number)
    )
    return next(row for row in sample.rows if row.source_line == line)


# --- the office's real file -------------------------------------------------------------------


def test_the_sample_imports_all_68_protocols_without_problems(sample: ImportResult) -> None:
    assert len(sample.rows) == 68
    assert sample.problems == []
    assert all(row.source_file == str(SAMPLE) for row in sample.rows)


def test_line_numbers_are_physical_lines(sample: ImportResult) -> None:
    numbered = {
        index: cells[0]
        for index, cells in enumerate(sample_lines(), start=1)
        if cells and cells[0].isdigit()
    }
    assert [row.source_line for row in sample.rows] == list(numbered)
    assert sample.rows[0].source_line == 4  # two blank lines and the header come first


def test_row_1_has_an_unknown_day(sample: ImportResult) -> None:
    row = row_number(sample, 1)
    assert row.partner == "Ivane Javakhishvili Tbilisi State University"
    assert (row.country, row.country_code, row.country_match) == (
        "Georgia",
        "GE",
        CountryMatch.EXACT,
    )
    assert row.concluded == date(2018, 1, 1)
    assert row.concluded_precision is Precision.MONTH
    assert row.effective_until == date(2023, 1, 1)
    assert row.effective_until_source is UntilSource.YEAR
    assert row.approximate is True
    assert row.programme == "Mevlana"
    assert row.notes == ""
    assert row.coordinator_email is None
    assert any("xx.01.2018" in warning for warning in row.warnings)


def test_row_20_is_a_plain_protocol(sample: ImportResult) -> None:
    row = row_number(sample, 20)
    assert row.partner == "Taras Shevchenko National University of Kyiv"
    assert row.partner_key == "taras shevchenko national university of kyiv"
    assert row.country_code == "UA"
    assert row.concluded == date(2019, 12, 12)
    assert row.concluded_precision is Precision.DAY
    assert row.effective_until == date(2024, 12, 12)
    assert row.effective_until_source is UntilSource.YEAR
    assert row.approximate is False
    assert row.warnings == ()


def test_row_45_html_fragment_becomes_a_note(sample: ImportResult) -> None:
    row = row_number(sample, 45)
    assert row.partner == "Michigan State University"
    # The footnote asterisk only tied the remark to the name; it goes with the tag.
    assert row.notes == "Valid for Project-Based International Exchange Program."
    assert (row.country, row.country_code, row.country_match) == ("USA", "US", CountryMatch.EXACT)
    assert row.concluded == date(2017, 6, 15)
    assert row.effective_until == date(2022, 6, 15)


def test_row_55_keeps_its_letters(sample: ImportResult) -> None:
    row = row_number(sample, 55)
    assert row.partner == "Centre Universitaire Belhadj Bouchaib -Aïn Temouchent"
    assert row.partner_key == "centre universitaire belhadj bouchaib ain temouchent"
    assert row.country_code == "DZ"
    assert row.effective_until == date(2024, 1, 31)


def test_row_59_is_in_iran(sample: ImportResult) -> None:
    row = row_number(sample, 59)
    assert row.partner == "Azerbaijan Shahid Madani University"
    assert (row.country, row.country_code, row.country_match) == ("Iran", "IR", CountryMatch.EXACT)
    assert row.concluded == date(2019, 2, 5)
    assert row.effective_until == date(2024, 2, 5)


def test_the_sample_warns_about_approximate_countries_and_dates(sample: ImportResult) -> None:
    tunis = row_number(sample, 23)
    macedonia = row_number(sample, 8)
    first = row_number(sample, 1)
    # "Tunis" is Tunisia's name in several of CLDR's languages: an exact match.
    assert (tunis.country_code, tunis.country_match) == ("TN", CountryMatch.EXACT)
    assert (macedonia.country_code, macedonia.country_match) == ("MK", CountryMatch.APPROXIMATE)
    assert not any("'Tunis'" in warning for warning in sample.warnings)
    assert (
        f"{SAMPLE}:{macedonia.source_line}: country 'Macedonia' matched approximately to MK"
        " (North Macedonia)" in sample.warnings
    )
    assert any(
        w.startswith(f"{SAMPLE}:{first.source_line}: conclusion date") for w in sample.warnings
    )
    # Every warning names its line, and each belongs to a row that carries it.
    lines_with_warnings = {row.source_line for row in sample.rows if row.warnings}
    assert {int(w.split(":")[-2]) for w in sample.warnings} == lines_with_warnings


def test_iter_table_streams_and_count_lines_sizes_a_progress_bar() -> None:
    items = iter_table(SAMPLE, term_years=TERM_YEARS, default_programme="Mevlana")
    first = next(items)
    assert isinstance(first, TableWarning)  # row 1's approximate date comes before it
    assert isinstance(next(items), AgreementInput)
    assert count_lines(SAMPLE) == len(SAMPLE_TEXT.splitlines())


def test_iter_table_refuses_a_bad_file_at_the_call() -> None:
    with pytest.raises(InputError):
        iter_table(SAMPLE.with_name("missing.tsv"), term_years=5, default_programme="x")


# --- the same data in other shapes ------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "extension"), [(";", "csv"), (",", "csv"), ("\t", "txt")])
def test_the_same_data_as_csv(
    tmp_path: Path, sample: ImportResult, delimiter: str, extension: str
) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(sample_lines())
    path = tmp_path / f"agreements.{extension}"
    path.write_text(buffer.getvalue().rstrip("\n"), encoding="utf-8")
    if delimiter == ",":
        assert '"University of Sindh, Jamshoro"' in path.read_text(encoding="utf-8")
    result = read(path)
    assert result.problems == []
    assert without_source(result.rows) == without_source(sample.rows)


def test_the_same_data_with_a_utf8_bom_or_as_utf16(tmp_path: Path, sample: ImportResult) -> None:
    with_bom = tmp_path / "bom.tsv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + SAMPLE.read_bytes())
    utf16 = tmp_path / "unicode.txt"  # Excel's "Unicode text" export
    utf16.write_bytes(SAMPLE_TEXT.encode("utf-16"))
    for path in (with_bom, utf16):
        result = read(path)
        assert result.problems == []
        assert without_source(result.rows) == without_source(sample.rows)


TURKISH_ROWS = [
    "69\tDoğu Akdeniz Üniversitesi\tCyprus\t12.03.2021\t2026",
    "70\tIşık Üniversitesi\tTürkiye\t01.04.2021\t2026",
    "71\tİstanbul Teknik Üniversitesi\tTürkiye\t02.04.2021\t2026",
]
WESTERN_ROWS = [
    "69\tLandbúnaðarháskóli Íslands\tIceland\t12.03.2021\t2026",
    "70\tFróðskaparsetur Føroya\tFaroe Islands\t01.04.2021\t2026",
    "71\tUniversité Paris Cité\tFrance\t02.04.2021\t2026",
]


@pytest.mark.parametrize(
    ("encoding", "extra_rows"), [("cp1254", TURKISH_ROWS), ("cp1252", WESTERN_ROWS)]
)
def test_windows_code_pages_are_told_apart(
    tmp_path: Path, sample: ImportResult, encoding: str, extra_rows: list[str]
) -> None:
    path = tmp_path / f"{encoding}.tsv"
    text = "\n".join([*SAMPLE_TEXT.split("\n")[:-2], *extra_rows])
    path.write_bytes(text.encode(encoding))
    result = read(path)
    assert result.problems == []
    assert without_source(result.rows[:68]) == without_source(sample.rows)
    assert [row.partner for row in result.rows[68:]] == [line.split("\t")[1] for line in extra_rows]


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("Doğu Akdeniz Üniversitesi", "cp1254"),
        ("Işık Üniversitesi", "cp1254"),
        ("Başkent Üniversitesi", "cp1254"),
        ("Háskólinn í Reykjavík - Þróunarsvið", "cp1252"),
        ("Landbúnaðarháskóli Íslands", "cp1252"),
    ],
)
def test_a_single_name_is_enough_to_tell_the_code_page(
    tmp_path: Path, name: str, encoding: str
) -> None:
    path = tmp_path / "one.csv"
    path.write_bytes(f"University;Country;Signed\n{name};Türkiye;01.02.2020\n".encode(encoding))
    assert read(path).rows[0].partner == name


def build_workbook(path: Path, *, cover_sheet: bool) -> None:
    """Write the sample as a workbook: real date cells, year numbers, same row numbers."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    if cover_sheet:
        sheet.title = "Cover"
        sheet["A1"] = "International Relations Office"
        sheet = workbook.create_sheet("Agreements 2022")
    for row_index, cells in enumerate(sample_lines(), start=1):
        values: list[str | int | date] = list(cells)
        if len(cells) == 5 and cells[0].isdigit():
            day, month, year = cells[3].split(".")
            values[0] = int(cells[0])
            values[3] = date(int(year), int(month), int(day)) if day.isdigit() else cells[3]
            values[4] = int(cells[4])
        for column_index, value in enumerate(values, start=1):
            sheet.cell(row=row_index, column=column_index, value=value)
    workbook.save(path)


def test_the_same_data_as_a_workbook(tmp_path: Path, sample: ImportResult) -> None:
    path = tmp_path / "agreements.xlsx"
    build_workbook(path, cover_sheet=False)
    result = read(path)
    assert result.problems == []
    assert without_source(result.rows) == without_source(sample.rows)
    assert count_lines(path) == len(SAMPLE_TEXT.splitlines())


def test_a_workbook_sheet_is_chosen_by_name(tmp_path: Path, sample: ImportResult) -> None:
    path = tmp_path / "agreements.xlsx"
    build_workbook(path, cover_sheet=True)
    result = read(path, sheet="Agreements 2022")
    assert without_source(result.rows) == without_source(sample.rows)
    with pytest.raises(InputError, match="missing column"):
        read(path)  # the first sheet is the cover
    with pytest.raises(InputError, match="'Cover', 'Agreements 2022'") as error:
        read(path, sheet="Agreements 2023")
    assert str(path) in str(error.value)


def test_a_workbook_with_another_extension_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "agreements.dat"
    build_workbook(path, cover_sheet=False)
    assert len(read(path).rows) == 68


# --- cells: HTML, synonyms, optional columns --------------------------------------------------


def test_html_in_cells(tmp_path: Path) -> None:
    path = write_tsv(
        tmp_path,
        "University\tCountry\tSigned",
        "Texas A&amp;M University\tUnited States\t01.02.2020",
        "<b>Bold University</b>\tFrance\t01.02.2020",
        "Foo <b>Bar</b> University\tFrance\t01.02.2020",
        "Line University<br>Only for staff mobility\tFrance\t01.02.2020",
        "Space&nbsp;University  of   Tabs\tSpain\t01.02.2020",
    )
    result = read(path)
    assert [(row.partner, row.notes) for row in result.rows] == [
        ("Texas A&M University", ""),
        ("Bold University", ""),
        ("Foo Bar University", ""),
        ("Line University", "Only for staff mobility"),
        ("Space University of Tabs", ""),
    ]


def test_header_synonyms_optional_columns_and_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "erasmus.csv"
    path.write_text(
        "#;Partner institution;Country;Signed on;Valid until;Program;Contact e-mail;Remarks;"
        "Budget\n"
        "1;Universität Wien;Austria;01.02.2020;31.01.2027;Erasmus+;ana@example.org;KA131;1000\n"
        "2;Universidad de Granada;Spain;01.02.2020;;;;;\n",
        encoding="utf-8",
    )
    result = read(path)
    assert result.problems == []
    assert result.warnings == [f"{path}:1: ignored unknown column(s): 'Budget'"]
    vienna, granada = result.rows
    assert (vienna.programme, vienna.programme_key) == ("Erasmus+", "erasmus")
    assert vienna.coordinator_email == "ana@example.org"
    assert vienna.notes == "KA131"
    assert vienna.effective_until == date(2027, 1, 31)
    assert vienna.effective_until_source is UntilSource.GIVEN
    assert granada.programme == "Mevlana"
    assert granada.coordinator_email is None
    assert granada.effective_until == date(2020 + TERM_YEARS, 2, 1)
    assert granada.effective_until_source is UntilSource.TERM


def test_a_month_year_until_is_its_first_day_and_approximate(tmp_path: Path) -> None:
    path = write_tsv(tmp_path, HEADER, "1\tA University\tFrance\t15.06.2017\t06.2022")
    result = read(path)
    assert result.rows[0].effective_until == date(2022, 6, 1)
    assert result.rows[0].effective_until_source is UntilSource.GIVEN
    assert result.rows[0].approximate is True
    assert result.warnings == [f"{path}:2: effective-until 06.2022 has no day; using 01.06.2022"]


def test_an_unquoted_footer_split_by_its_comma_is_still_a_footer(tmp_path: Path) -> None:
    path = tmp_path / "agreements.csv"
    path.write_text(
        "University,Country,Signed\nA University,France,01.02.2020\n\nUpdated on January 17, 2022",
        encoding="utf-8",
    )
    result = read(path)
    assert (len(result.rows), result.problems, result.warnings) == (1, [], [])


def test_a_partial_conclusion_date_with_a_full_until_date(tmp_path: Path) -> None:
    path = write_tsv(tmp_path, HEADER, "1\tA University\tFrance\t??.03.2020\t15.03.2025")
    result = read(path)
    row = result.rows[0]
    assert (row.concluded, row.concluded_precision) == (date(2020, 3, 1), Precision.MONTH)
    assert (row.effective_until, row.approximate) == (date(2025, 3, 15), False)
    assert result.warnings == [
        f"{path}:2: conclusion date ??.03.2020 is not a full date; counting from 01.03.2020"
    ]


def test_a_table_without_until_column_uses_the_term(tmp_path: Path) -> None:
    path = write_tsv(tmp_path, "University\tCountry\tSigned", "A University\tFrance\t29.02.2020")
    result = read_table(path, term_years=3, default_programme="Mevlana")
    assert result.rows[0].effective_until == date(2023, 2, 28)
    assert result.rows[0].effective_until_source is UntilSource.TERM


def test_year_disagreeing_with_the_term_is_kept_and_warned(tmp_path: Path) -> None:
    path = write_tsv(tmp_path, HEADER, "1\tA University\tFrance\t15.06.2017\t2020")
    result = read(path)
    assert result.rows[0].effective_until == date(2020, 6, 15)
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"{path}:2: effective-until year 2020")


def test_unknown_country_is_kept_without_a_code(tmp_path: Path) -> None:
    path = write_tsv(tmp_path, HEADER, "1\tA University\tNarnia\t15.06.2017\t2022")
    result = read(path)
    assert result.rows[0].country == "Narnia"
    assert result.rows[0].country_code is None
    assert result.rows[0].country_match is CountryMatch.UNKNOWN
    assert result.warnings == [
        f"{path}:2: country 'Narnia' is not a known country; kept without a code"
    ]
    blank = write_tsv(tmp_path, HEADER, "1\tA University\t\t15.06.2017\t2022", name="blank.tsv")
    assert read(blank).warnings == [f"{blank}:2: the country is empty"]


def test_normalize_key() -> None:
    assert normalize_key("Doğu Akdeniz Üniversitesi") == normalize_key("DOGU AKDENIZ UNIVERSITESI")
    assert normalize_key("Işık Üniversitesi") == "isik universitesi"
    assert normalize_key("İSTANBUL Teknik") == "istanbul teknik"
    assert (
        normalize_key("  Kyrgyz - Turkish   Manas (University) ")
        == "kyrgyz turkish manas university"
    )
    assert normalize_key("Aïn_Temouchent") == "ain temouchent"


# --- bad rows ---------------------------------------------------------------------------------


def test_bad_rows_are_reported_by_file_and_line(tmp_path: Path) -> None:
    lines = {
        "header": HEADER,
        "good": "1\tGood University\tFrance\t15.06.2017\t2022",
        "no partner": "2\t\tFrance\t15.06.2017\t2022",
        "impossible": "3\tFeb University\tFrance\t31.02.2019\t2024",
        "no date": "4\tDateless University\tFrance\t\t2024",
        "bad until": "5\tUntil University\tFrance\t15.06.2017\t2023-13-01",
        "until before": "6\tEarly University\tFrance\t15.06.2017\t2016",
        "short": "7\tShort University\tFrance",
        "duplicate": "8\tGood  University\tFrance\t15.06.2017\t2022",
        "title": "Erasmus agreements",
        "two problems": "9\t\tFrance\tsoon\t2024",
    }
    path = write_tsv(tmp_path, *lines.values(), "", "Updated on January 17, 2022")
    line_of = {label: index for index, label in enumerate(lines, start=1)}
    result = read(path)
    assert [row.partner for row in result.rows] == ["Good University"]
    expected = {
        "no partner": "the partner (university) is empty",
        "impossible": "conclusion date 31.02.2019 is not a date: February 2019 has 28 days",
        "no date": "the conclusion date is empty",
        "bad until": "effective-until 2023-13-01 is not a date: there is no month 13",
        "until before": "effective-until 2016 is before the conclusion date 15.06.2017",
        "short": "too few cells: 3 where the header has 5",
        "duplicate": f"the same partner, programme and conclusion date as line {line_of['good']}",
        "two problems": "the partner (university) is empty; conclusion date soon is not a date:",
    }
    assert [problem.line for problem in result.problems] == [line_of[key] for key in expected]
    for problem, (label, reason) in zip(result.problems, expected.items(), strict=True):
        assert problem.file == str(path)
        assert str(problem).startswith(f"{path}:{line_of[label]}: {reason}")
    assert result.warnings == [
        f"{path}:{line_of['title']}: skipped a line with a single filled cell"
        " ('Erasmus agreements')"
    ]


def test_invalid_coordinator_emails(tmp_path: Path) -> None:
    addresses = ["ana@example.org", "ana", "ana@@example.org", "ana @example.org", "ana@example"]
    path = tmp_path / "emails.csv"
    path.write_text(
        "University;Country;Signed;Coordinator\n"
        + "".join(f"U{index};France;01.02.2020;{text}\n" for index, text in enumerate(addresses)),
        encoding="utf-8",
    )
    result = read(path)
    assert [row.coordinator_email for row in result.rows] == ["ana@example.org"]
    assert [problem.line for problem in result.problems] == [3, 4, 5, 6]
    assert all("is not one valid address" in problem.reason for problem in result.problems)
    assert RowProblem("f", 3, "r").__str__() == "f:3: r"


# --- bad files --------------------------------------------------------------------------------


def assert_one_line_input_error(
    path: Path, phrase: str, *, fmt: str = "auto", sheet: str | None = None
) -> None:
    with pytest.raises(InputError) as error:
        read(path, fmt=fmt, sheet=sheet)
    assert len(error.value.problems) == 1
    assert "\n" not in error.value.problems[0]
    assert error.value.problems[0].startswith(str(path))
    assert phrase in error.value.problems[0]


def test_missing_file(tmp_path: Path) -> None:
    assert_one_line_input_error(tmp_path / "nowhere.tsv", "no such file")


def test_a_directory(tmp_path: Path) -> None:
    assert_one_line_input_error(tmp_path, "is a directory")


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    assert_one_line_input_error(path, "the file is empty")


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (bytes(range(256)) * 40, "binary data"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old .xls workbook"),
    ],
)
def test_files_that_are_not_tables(tmp_path: Path, content: bytes, phrase: str) -> None:
    path = tmp_path / "agreements.csv"
    path.write_bytes(content)
    assert_one_line_input_error(path, phrase)


def test_a_workbook_given_as_csv_and_a_csv_given_as_workbook(tmp_path: Path) -> None:
    workbook = tmp_path / "agreements.xlsx"
    build_workbook(workbook, cover_sheet=False)
    assert_one_line_input_error(workbook, "zip archive", fmt="csv")
    fake = tmp_path / "fake.xlsx"
    fake.write_text(SAMPLE_TEXT, encoding="utf-8")
    assert_one_line_input_error(fake, "not an .xlsx workbook")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + bytes(100))
    assert_one_line_input_error(broken, "not a readable .xlsx workbook")


def test_a_workbook_damaged_inside_its_sheet(tmp_path: Path) -> None:
    # The workbook opens and the sheet is found; the damage shows only while its rows
    # are read, well into the table.
    whole = tmp_path / "whole.xlsx"
    build_workbook(whole, cover_sheet=False)
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) * 2 // 3]  # cut off in the middle of a row
            target.writestr(item, data)
    assert_one_line_input_error(damaged, "cannot be read")


def test_a_workbook_whose_sheet_is_blank(tmp_path: Path) -> None:
    path = tmp_path / "blank.xlsx"
    workbook = openpyxl.Workbook()
    workbook.save(path)
    assert_one_line_input_error(path, "no header row")


def test_missing_columns_are_named_with_the_headers_found(tmp_path: Path) -> None:
    path = write_tsv(tmp_path, "", "NO.\tUNIVERSITY\tSTATE\tDATE", "1\tA University\tFrance\t2020")
    with pytest.raises(InputError) as error:
        read(path)
    (message,) = error.value.problems
    assert message.startswith(f"{path}:2: missing column(s) country (e.g. 'Country'),")
    assert "concluded (e.g. 'Conclusion date')" in message
    assert "the headers found: 'NO.', 'UNIVERSITY', 'STATE', 'DATE'" in message


def test_two_columns_for_the_same_field(tmp_path: Path) -> None:
    path = write_tsv(tmp_path, "University\tPartner\tCountry\tSigned")
    assert_one_line_input_error(path, "columns 'University' and 'Partner' mean the same")


def test_options_that_do_not_fit(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown table format 'ods'"):
        read(SAMPLE, fmt="ods")
    assert_one_line_input_error(SAMPLE, "a sheet can only be chosen", sheet="Sheet1")


# ---------------------------------------------------------------------------------------
# A Turkish office's own table


TURKISH_TABLE = (
    "Sıra No\tÜniversite\tÜlke\tİmza Tarihi\tGeçerlilik Tarihi\tProgram\t"
    "Koordinatör E-posta\tAçıklama",
    "1\tTiflis Devlet Üniversitesi\tGürcistan\t10.01.2017\t10.01.2022\tMevlana\t\t",
    "2\tBakü Devlet Üniversitesi\tAzerbaycan\t11.03.2019\t2024\tMevlana\t\tYenilenecek",
    "3\tAl-Farabi Kazak Milli Üniversitesi\tKazakistan\t05.02.2019\t\tMevlana\t\t",
    "4\tSaraybosna Üniversitesi\tBosna-Hersek\t01.06.2018\t01.06.2023\tMevlana\t\t",
    "5\tOş Devlet Üniversitesi\tKIRGIZISTAN\t01.09.2018\t01.09.2023\tMevlana\t"
    "koordinator@example.edu\t",
    "6\tKIRIKKALE ÜNİVERSİTESİ\tTÜRKİYE\t01.02.2020\t01.02.2025\tFarabi\t\t",
    "7\tAnkara Üniversitesi\tTurkey\t01.03.2020\t01.03.2025\tFarabi\t\t",
)


def test_a_turkish_table_imports_without_warnings(tmp_path: Path) -> None:
    """Turkish headers, Turkish country names (CLDR's), Turkish capitals: no warning."""
    result = read(write_tsv(tmp_path, *TURKISH_TABLE))
    assert not result.problems
    assert not result.warnings
    assert [row.country_code for row in result.rows] == ["GE", "AZ", "KZ", "BA", "KG", "TR", "TR"]
    assert all(row.country_match is CountryMatch.EXACT for row in result.rows)
    baku = result.rows[1]
    assert (baku.programme, baku.notes, baku.effective_until) == (
        "Mevlana",
        "Yenilenecek",
        date(2024, 3, 11),
    )
    assert result.rows[4].coordinator_email == "koordinator@example.edu"
    assert result.rows[2].effective_until == date(2024, 2, 5)  # no end: conclusion + term


@pytest.mark.parametrize(
    "header",
    [
        "Kurum\tÜlke\tSözleşme tarihi\tBitiş tarihi\tNotlar\tKoordinatör",
        "Partner\tülke\tBaşlangıç tarihi\tGeçerlilik\tAçıklama\tKoordinatör e-posta",
        "ÜNİVERSİTE\tÜLKE\tİMZA TARİHİ\tGEÇERLİLİK TARİHİ\tNOTLAR\tKOORDİNATÖR",
    ],
)
def test_turkish_headers_are_recognised_like_english_ones(tmp_path: Path, header: str) -> None:
    row = "Kırıkkale Üniversitesi\tTürkiye\t01.02.2020\t01.02.2025\tnot\tk@example.edu"
    result = read(write_tsv(tmp_path, header, row))
    assert not result.problems and not result.warnings
    (found,) = result.rows
    assert (found.partner, found.country_code, found.concluded, found.effective_until) == (
        "Kırıkkale Üniversitesi",
        "TR",
        date(2020, 2, 1),
        date(2025, 2, 1),
    )
    assert (found.notes, found.coordinator_email) == ("not", "k@example.edu")


def test_turkish_capitals_name_the_same_partner(tmp_path: Path) -> None:
    # Turkish case rules: "I" is the capital of "ı", "İ" of "i"; both spellings are one key.
    assert normalize_key("KIRIKKALE ÜNİVERSİTESİ") == normalize_key("Kırıkkale Üniversitesi")
    assert normalize_key("KIRIKKALE ÜNİVERSİTESİ") != normalize_key("Kırşehir Üniversitesi")
    # So a table that lists both lists one agreement twice.
    path = write_tsv(
        tmp_path,
        "Üniversite\tÜlke\tİmza tarihi",
        "KIRIKKALE ÜNİVERSİTESİ\tTürkiye\t01.02.2020",
        "Kırıkkale Üniversitesi\tTürkiye\t01.02.2020",
    )
    (problem,) = read(path).problems
    assert "the same partner, programme and conclusion date as line 2" in str(problem)


def test_the_office_aliases_settle_a_spelling_without_a_warning(tmp_path: Path) -> None:
    path = write_tsv(tmp_path, HEADER, "1\tA University\tMacedonia\t15.06.2017\t2022")
    assert read(path).warnings
    result = read_table(
        path,
        term_years=5,
        default_programme="Mevlana",
        country_aliases=aliases_of({"Macedonia": "MK"}),
    )
    assert not result.warnings
    assert (result.rows[0].country_code, result.rows[0].country_match) == (
        "MK",
        CountryMatch.EXACT,
    )
