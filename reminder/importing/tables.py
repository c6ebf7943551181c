"""Table files -> raw rows: format detection, text encodings, delimiters and workbooks.

`open_table` reads a .tsv, .csv or .xlsx file (or sniffs one with another extension) and
yields (physical line, cells) pairs; it knows nothing of agreements. Whole-file failures
raise InputError with one line naming the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from reminder.errors import InputError

FORMATS = ("auto", "tsv", "csv", "xlsx")

#: One raw row: its physical line number (a workbook's row number) and its cells.
Row = tuple[int, Sequence[object]]
Rows = Generator[Row, None, None]

_EXTENSIONS = {".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx"}
_ZIP_SIGNATURE = b"PK\x03\x04"  # an .xlsx workbook is a zip archive
_NOT_A_TABLE = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "an old .xls workbook or Word file; save it as .xlsx or CSV"),
)
_CONTROL_BYTES = frozenset(set(range(32)) - set(b"\t\n\r\f\v"))

# Windows-1254 (Turkish) and Windows-1252 differ in these six bytes: Ğ İ Ş ğ ı ş against  # noqa: RUF003
# Ð Ý Þ ð ý þ. The latter are Icelandic letters, and Icelandic words carrying them nearly
# always carry á é í ó ú or æ too, which Turkish never uses (same bytes in both pages).
_TURKISH_OR_ICELANDIC = frozenset(b"\xd0\xdd\xde\xf0\xfd\xfe")
_ICELANDIC_COMPANIONS = frozenset(b"\xe1\xe9\xed\xf3\xfa\xe6\xc1\xc9\xcd\xd3\xda\xc6")
_WORD_BYTES = re.compile(rb"[A-Za-z\x80-\xff]{2,}")
# What str.splitlines() splits at.
_LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# A line as io.StringIO(newline="") reads it: up to and with \n, \r or \r\n, or the rest.
_PHYSICAL_LINE = re.compile("[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


@dataclass(frozen=True, slots=True)
class RawTable:
    """The rows of a table file, not yet interpreted.

    `line_count` is the number of lines (workbook: rows), for a progress bar.
    `short_rows_are_padded` is true for workbooks, where a row simply ends at its last
    filled cell; in a text table a short row means a missing separator.
    """

    rows: Rows
    line_count: int
    short_rows_are_padded: bool


def open_table(path: Path, *, fmt: str = "auto", sheet: str | None = None) -> RawTable:
    """Open a table file: `fmt` is auto, tsv, csv or xlsx; `sheet` picks a workbook sheet.

    auto goes by the extension (.tsv/.tab, .csv, .xlsx/.xlsm); any other extension is
    sniffed from the first non-blank line (tab, then comma or semicolon), and a zip archive
    is read as a workbook. A text file is read into memory once (agreement tables are
    small); its rows, like a workbook's, are produced one at a time.

    Returns the RawTable. Raises InputError, naming the file, when it is missing,
    unreadable, empty, not a table, not decodable, or lacks the sheet.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown table format {fmt!r}: use one of {', '.join(FORMATS)}")
    data = _read_bytes(path)
    kind = _detect_format(path, data, fmt)
    if kind == "xlsx":
        rows, row_count = _xlsx_rows(path, data, sheet)
        return RawTable(rows, row_count, short_rows_are_padded=True)
    if sheet is not None:
        raise InputError(f"{path}: a sheet can only be chosen in an .xlsx workbook")
    text = decode_text(str(path), data)
    rows = _text_rows(path, text, _sniff_delimiter(text, kind))
    return RawTable(rows, _count_lines(text), short_rows_are_padded=False)


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a table") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the file: {error.strerror or error}") from None
    if not data.strip():
        raise InputError(f"{path}: the file is empty")
    return data


def _detect_format(path: Path, data: bytes, fmt: str) -> str:
    """Return "xlsx", "tsv", "csv" or "sniff" (delimiter decided from the header line)."""
    for signature, what in _NOT_A_TABLE:
        if data.startswith(signature):
            raise InputError(f"{path}: not a table: this is {what}")
    guess = fmt if fmt != "auto" else _EXTENSIONS.get(path.suffix.lower(), "sniff")
    is_zip = data.startswith(_ZIP_SIGNATURE)
    if is_zip and fmt == "auto":
        return "xlsx"  # a workbook saved under another extension
    if is_zip != (guess == "xlsx"):
        what = "a zip archive" if is_zip else "not an .xlsx workbook"
        raise InputError(f"{path}: not a {guess} table: this is {what}")
    return guess


def decode_text(file: str, data: bytes) -> str:
    """Return the text of a table file's bytes, detecting the encoding.

    UTF-16 with a BOM (Excel's "Unicode text"), UTF-8 with or without a BOM, else
    Windows-1254 or Windows-1252 as `_looks_turkish` decides. Raises InputError naming
    `file` when the bytes are binary or fit none of these encodings.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        sample = data[:8192]
        control_count = sum(byte in _CONTROL_BYTES for byte in sample)
        if b"\x00" in sample or control_count > len(sample) // 100:
            raise InputError(f"{file}: not a table: the file holds binary data, not text")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
        # Only now is the code page worth guessing: the vote reads every word.
        turkish = _looks_turkish(data)
        encodings = ("cp1254", "cp1252") if turkish else ("cp1252", "cp1254")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{file}: cannot decode the text as UTF-8, Windows-1254 or Windows-1252")


def _looks_turkish(data: bytes) -> bool:
    """Guess whether non-UTF-8 bytes are Windows-1254 (Turkish) rather than Windows-1252.

    Each word holding one of the six bytes the code pages disagree on votes: Icelandic when
    the word also has á é í ó ú or æ, Turkish otherwise ("Doğu", "Başkent"). Turkish wins
    a majority; with no such word the pages decode alike and Windows-1252 is used. An
    Icelandic word without those vowels ("Guðmundsson") is misread as Turkish.
    """
    turkish_votes = icelandic_votes = 0
    # One word at a time: a list of every word of a large file would weigh more than it.
    for match in _WORD_BYTES.finditer(data):
        word = match.group()
        if _TURKISH_OR_ICELANDIC.isdisjoint(word):
            continue
        if _ICELANDIC_COMPANIONS.isdisjoint(word):
            turkish_votes += 1
        else:
            icelandic_votes += 1
    return turkish_votes > icelandic_votes


def _sniff_delimiter(text: str, kind: str) -> str:
    """Return the delimiter used most in the first non-blank line among those `kind` allows."""
    candidates = {"tsv": "\t", "csv": ",;", "sniff": "\t,;"}[kind]
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    return max(candidates, key=first_line.count)


def _count_lines(text: str) -> int:
    """Return len(text.splitlines()) without building the list of lines."""
    breaks = sum(1 for _ in _LINE_BREAK.finditer(text))
    return breaks + (1 if text and _LINE_BREAK.fullmatch(text[-1]) is None else 0)


def _physical_lines(text: str) -> Iterator[str]:
    """Yield the lines of `text` with their endings, as io.StringIO(text, newline="") does.

    A line ends at \\n, \\r or \\r\\n. The lines are cut from `text` one at a time: a
    StringIO would hold a copy of the whole text, four bytes per character.
    """
    for match in _PHYSICAL_LINE.finditer(text):
        yield match.group()


def _text_rows(path: Path, text: str, delimiter: str) -> Rows:
    reader = csv.reader(_physical_lines(text), delimiter=delimiter)
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1
    except csv.Error as error:
        raise InputError(f"{path}:{line}: cannot split the line into cells: {error}") from None


def _xlsx_rows(path: Path, data: bytes, sheet: str | None) -> tuple[Rows, int]:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable .xlsx workbook: {error}") from None
    worksheets = {worksheet.title: worksheet for worksheet in workbook.worksheets}
    if not worksheets:
        workbook.close()
        raise InputError(f"{path}: the workbook has no worksheet")
    if sheet is None:
        sheet = next(iter(worksheets))
    if sheet not in worksheets:
        workbook.close()
        names = ", ".join(repr(name) for name in worksheets)
        raise InputError(f"{path}: no sheet named {sheet!r}; the sheets are {names}")
    worksheet = worksheets[sheet]
    row_count = worksheet.max_row or 0
    if hasattr(worksheet, "reset_dimensions"):
        # Some exporters write a wrong size; read-only mode would stop reading at it.
        worksheet.reset_dimensions()

    def rows() -> Rows:
        try:
            yield from enumerate(worksheet.iter_rows(min_row=1, values_only=True), start=1)
        except (zipfile.BadZipFile, ParseError, KeyError, OSError, ValueError) as error:
            # The sheet is read lazily: damage past its start shows only now.
            raise InputError(f"{path}: sheet {sheet!r} cannot be read: {error}") from None
        finally:
            workbook.close()

    return rows(), row_count
