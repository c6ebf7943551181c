"""What a hostile or broken table costs: bounded size, no XML entity expansion, and
messages that stay one short line whatever the cells hold."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from reminder.errors import InputError
from reminder.importing.rows import ImportResult, read_table

HEADER = ["Partner", "Country", "Conclusion date", "Effective until"]
ROW = ["Riga Technical University", "Latvia", "01.01.2020", "01.01.2025"]


def read(path: Path, *, max_bytes: int = 500_000_000) -> ImportResult:
    return read_table(path, term_years=5, default_programme="Mevlana", max_bytes=max_bytes)


def one_line_error(path: Path, *, max_bytes: int = 500_000_000) -> str:
    """Return the one problem reading `path` raises, checked to be a single line."""
    with pytest.raises(InputError) as error:
        read(path, max_bytes=max_bytes)
    (problem,) = error.value.problems
    assert "\n" not in problem and problem.startswith(f"{path}:"), problem
    return problem


def workbook(path: Path, *rows: list[str]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def rewritten(source: Path, target: Path, part: str, change: Callable[[bytes], bytes]) -> Path:
    """Copy the workbook `source` to `target` with one of its parts changed."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            copy.writestr(item, change(data) if item.filename == part else data)
    return target


def test_a_text_table_larger_than_the_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    table = tmp_path / "agreements.tsv"
    lines = ["\t".join(HEADER)] + ["\t".join(ROW)] * 30_000
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    size = table.stat().st_size
    assert 1_000_000 < size < 2_000_000

    problem = one_line_error(table, max_bytes=1_000_000)

    assert problem == (
        f"{table}: the file is {size / 1e6:,.1f} MB, larger than the limit of 1.0 MB "
        "(import.max_table_megabytes)"
    )
    assert len(read(table, max_bytes=2_000_000).rows) == 1  # the rest repeat the first


def test_a_workbook_is_measured_by_what_it_unpacks_to(tmp_path: Path) -> None:
    # A sheet of 3 MB of blank space packs into a few kB: the file is small, and the
    # limit is on what reading it would unpack.
    small = workbook(tmp_path / "small.xlsx", HEADER, ROW)
    padded = rewritten(
        small,
        tmp_path / "padded.xlsx",
        "xl/worksheets/sheet1.xml",
        lambda sheet: sheet.replace(b"<sheetData>", b"<sheetData>" + b" " * 3_000_000),
    )
    assert padded.stat().st_size < 100_000

    problem = one_line_error(padded, max_bytes=2_000_000)

    assert "the workbook unpacks to 3.0 MB, larger than the limit of 2.0 MB" in problem
    assert len(read(padded, max_bytes=4_000_000).rows) == 1


def test_a_workbook_declaring_xml_entities_is_refused_unexpanded(tmp_path: Path) -> None:
    # The "billion laughs": ten entities, each ten of the one before, name the partner.
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10)
    ]
    doctype = f"<!DOCTYPE worksheet [{''.join(entities)}]>".encode()
    source = workbook(tmp_path / "source.xlsx", HEADER, ["Entity Bomb University", *ROW[1:]])
    bomb = rewritten(
        source,
        tmp_path / "bomb.xlsx",
        "xl/worksheets/sheet1.xml",
        lambda sheet: doctype + sheet.replace(b"Entity Bomb University", b"&lol9;"),
    )

    problem = one_line_error(bomb)

    assert "it declares XML entities, which a workbook never needs" in problem


def test_a_truncated_workbook_part_is_one_line(tmp_path: Path) -> None:
    source = workbook(tmp_path / "source.xlsx", HEADER, ROW)
    truncated = rewritten(
        source, tmp_path / "truncated.xlsx", "xl/workbook.xml", lambda part: part[: len(part) // 2]
    )

    problem = one_line_error(truncated)

    assert problem.startswith(f"{truncated}: not a readable .xlsx workbook: ")
    assert "line 1, column" in problem  # the parser's own reason, on the same line


def test_a_hundred_thousand_unknown_columns_are_one_short_warning(tmp_path: Path) -> None:
    table = tmp_path / "wide.tsv"
    extra = [f"Extra {number}" for number in range(100_000)]
    table.write_text("\t".join(HEADER + extra) + "\n" + "\t".join(ROW) + "\n", encoding="utf-8")

    result = read(table)

    (warning,) = result.warnings
    assert warning.endswith("'Extra 8', 'Extra 9' and 99,990 more")
    assert len(warning) < 300


def test_missing_columns_name_a_few_of_the_many_headers_found(tmp_path: Path) -> None:
    table = tmp_path / "wide.tsv"
    table.write_text("\t".join(["Partner"] + ["x" * 100_000] * 20) + "\nRiga\n", encoding="utf-8")

    problem = one_line_error(table)

    assert "the headers found: 'Partner', 'xxx" in problem
    assert problem.endswith("... (100,000 characters) and 11 more")
    assert len(problem) < 1500


@pytest.mark.parametrize(
    ("row", "said"),
    [
        (["A", "B" * 100_000, "01.01.2020", ""], "country 'BBBB"),
        (["A", "Latvia", "C" * 100_000, ""], "conclusion date CCCC"),
        (["A", "Latvia", "01.01.2020", "D" * 100_000], "effective-until DDDD"),
    ],
)
def test_a_huge_cell_is_quoted_in_part(tmp_path: Path, row: list[str], said: str) -> None:
    table = tmp_path / "agreements.tsv"
    table.write_text("\t".join(HEADER) + "\n" + "\t".join(row) + "\n", encoding="utf-8")

    result = read(table)

    (message,) = [str(problem) for problem in result.problems] + result.warnings
    assert said in message and "... (100,000 characters)" in message
    assert len(message) < 300
