"""Table files -> raw rows: format detection, text encodings, delimiters and workbooks.

`open_table` reads a .tsv, .csv or .xlsx file (or sniffs one with another extension) and
yields (physical line, cells) pairs; it knows nothing of agreements. Whole-file failures
raise InputError with one line naming the file.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
import stat
import zipfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import ParseError

import openpyxl
from defusedxml import DefusedXmlException
from openpyxl.utils.exceptions import InvalidFileException

from reminder.config.sections import ImportConfig
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
_TRAILING_WORD_BYTES = re.compile(rb"[A-Za-z\x80-\xff]+\Z")
# What str.splitlines() splits at.
_LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# Bytes read at a time: the start of a file (for its kind), then the rest in chunks.
_HEAD_BYTES = 64 * 1024
_CHUNK_BYTES = 1024 * 1024
#: The limit a caller that passes none gets: the config's default.
DEFAULT_MAX_BYTES = ImportConfig().max_table_bytes


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


def open_table(
    path: Path,
    *,
    fmt: str = "auto",
    sheet: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RawTable:
    """Open a table file: `fmt` is auto, tsv, csv or xlsx; `sheet` picks a workbook sheet.

    auto goes by the extension (.tsv/.tab, .csv, .xlsx/.xlsm); any other extension is
    sniffed from the first non-blank line (tab, then comma or semicolon), and a zip archive
    is read as a workbook. A text file is read through once, a chunk at a time, to find
    its encoding and count its lines; its rows, like a workbook's, are then read one at
    a time: the whole text is never held. A file larger than `max_bytes`, or a workbook
    that unpacks to more, is refused before a row is read.

    Returns the RawTable. Raises InputError, naming the file, when it is missing,
    unreadable, empty, too large, not a table, not decodable, or lacks the sheet.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown table format {fmt!r}: use one of {', '.join(FORMATS)}")
    head = _read_head(path, max_bytes)
    kind = _detect_format(path, head, fmt)
    if kind == "xlsx":
        _refuse_large_workbook(path, max_bytes)
        rows, row_count = _xlsx_rows(path, sheet)
        return RawTable(rows, row_count, short_rows_are_padded=True)
    if sheet is not None:
        raise InputError(f"{path}: a sheet can only be chosen in an .xlsx workbook")
    encoding, line_count = detect_encoding(path, head)
    delimiter = _sniff_delimiter(path, encoding, kind)
    return RawTable(_text_rows(path, encoding, delimiter), line_count, short_rows_are_padded=False)


def _read_head(path: Path, max_bytes: int) -> bytes:
    """Return the first bytes of the file; raise InputError if it is missing, blank,
    larger than `max_bytes`, or not a regular file (/dev/zero, /dev/urandom or a pipe
    never end: reading one would only stop when memory runs out)."""
    try:
        status = path.stat()
        if not (stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode)):
            raise InputError(f"{path}: not a regular file: give the table's file")
        if stat.S_ISREG(status.st_mode) and status.st_size > max_bytes:
            raise InputError(
                f"{path}: the file is {_megabytes(status.st_size)}, larger than the limit "
                f"of {_megabytes(max_bytes)} (import.max_table_megabytes)"
            )
        with path.open("rb") as file:
            head = file.read(_HEAD_BYTES)
            # A file is empty when it holds nothing but whitespace, to its end.
            blank = not head.strip()
            while blank and (chunk := file.read(_CHUNK_BYTES)):
                blank = not chunk.strip()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a table") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the file: {error.strerror or error}") from None
    if blank:
        raise InputError(f"{path}: the file is empty")
    return head


def _refuse_large_workbook(path: Path, max_bytes: int) -> None:
    """Raise InputError when the workbook's parts unpack to more than `max_bytes`.

    The sizes are the ones the archive declares, and the zip module reads no part past
    its declared size, so this bounds what reading the workbook can unpack. An archive
    that cannot be read is left for openpyxl to refuse.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(part.file_size for part in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    if unpacked > max_bytes:
        raise InputError(
            f"{path}: the workbook unpacks to {_megabytes(unpacked)}, larger than the limit "
            f"of {_megabytes(max_bytes)} (import.max_table_megabytes)"
        )


def _reason(error: BaseException) -> str:
    """Return why a workbook could not be read, on one line.

    openpyxl wraps the XML parser's error in a paragraph of its own; the parser's
    (innermost) error says what is wrong.
    """
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    if isinstance(error, DefusedXmlException):
        return "it declares XML entities, which a workbook never needs (refused: an entity bomb?)"
    return " ".join(str(error).split()) or type(error).__name__


def _megabytes(size: int) -> str:
    """Return a size in bytes as "512.3 MB"."""
    return f"{size / 1_000_000:,.1f} MB"


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


def detect_encoding(path: Path, head: bytes) -> tuple[str, int]:
    """Return the encoding of a text table and its number of lines (as splitlines counts).

    `head` is the start of the file. UTF-16 with a BOM (Excel's "Unicode text"), UTF-8
    with or without a BOM, else Windows-1254 or Windows-1252 as `_looks_turkish` decides.
    The file is read in chunks, never whole. Raises InputError naming the file when the
    bytes are binary or fit none of these encodings.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        sample = head[:8192]
        control_count = sum(byte in _CONTROL_BYTES for byte in sample)
        if b"\x00" in sample or control_count > len(sample) // 100:
            raise InputError(f"{path}: not a table: the file holds binary data, not text")
        _refuse_nul_bytes(path)
        line_count = _decoded_line_count(path, "utf-8-sig")
        if line_count is not None:
            return "utf-8-sig", line_count
        # Only now is the code page worth guessing: the vote reads every word.
        turkish = _looks_turkish(_chunks(path))
        encodings = ("cp1254", "cp1252") if turkish else ("cp1252", "cp1254")
    for encoding in encodings:
        line_count = _decoded_line_count(path, encoding)
        if line_count is not None:
            return encoding, line_count
    raise InputError(f"{path}: cannot decode the text as UTF-8, Windows-1254 or Windows-1252")


def _refuse_nul_bytes(path: Path) -> None:
    """Raise InputError when a text table that is not UTF-16 holds a NUL byte anywhere.

    The first 8 KB are looked at with the rest of the sniffing; a NUL further on would
    be stored by SQLite and put raw into mail, and refused by PostgreSQL mid-import.
    """
    offset = 0
    for chunk in _chunks(path):
        found = chunk.find(b"\x00")
        if found >= 0:
            raise InputError(
                f"{path}: not a table: a NUL byte at byte {offset + found + 1} "
                "(binary data, not text)"
            )
        offset += len(chunk)


def _chunks(path: Path) -> Iterator[bytes]:
    """Yield the bytes of the file a chunk at a time."""
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            yield chunk


def _decoded_line_count(path: Path, encoding: str) -> int | None:
    """Return the file's number of lines decoded as `encoding`, None if it does not decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    counter = _LineCounter()
    try:
        for chunk in _chunks(path):
            counter.add(decoder.decode(chunk))
        counter.add(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        return None
    return counter.total()


class _LineCounter:
    """Counts the lines of a text given in pieces, as len(text.splitlines()) would."""

    def __init__(self) -> None:
        self._breaks = 0
        self._last = ""  # the last character seen

    def add(self, text: str) -> None:
        """Count the line breaks of the next piece of the text."""
        if not text:
            return
        self._breaks += sum(1 for _ in _LINE_BREAK.finditer(text))
        if self._last == "\r" and text[0] == "\n":
            self._breaks -= 1  # one \r\n, cut in two by the pieces
        self._last = text[-1]

    def total(self) -> int:
        """Return the number of lines: the breaks, and a last line without one."""
        return self._breaks + (1 if self._last and not _LINE_BREAK.fullmatch(self._last) else 0)


def _looks_turkish(chunks: Iterable[bytes]) -> bool:
    """Guess whether non-UTF-8 bytes are Windows-1254 (Turkish) rather than Windows-1252.

    Each word holding one of the six bytes the code pages disagree on votes: Icelandic when
    the word also has á é í ó ú or æ, Turkish otherwise ("Doğu", "Başkent"). Turkish wins
    a majority; with no such word the pages decode alike and Windows-1252 is used. An
    Icelandic word without those vowels ("Guðmundsson") is misread as Turkish.
    `chunks` are the bytes in order; a word cut between two chunks is read whole.
    """
    turkish_votes = icelandic_votes = 0
    carried = b""
    for chunk in itertools.chain(chunks, [b""]):
        data = carried + chunk
        # The last word may go on in the next chunk: keep it for then (at the end, the
        # empty chunk, nothing goes on).
        cut = len(data) if not chunk else _last_word_start(data)
        carried = data[cut:]
        for match in _WORD_BYTES.finditer(data, 0, cut):
            word = match.group()
            if _TURKISH_OR_ICELANDIC.isdisjoint(word):
                continue
            if _ICELANDIC_COMPANIONS.isdisjoint(word):
                turkish_votes += 1
            else:
                icelandic_votes += 1
    return turkish_votes > icelandic_votes


def _last_word_start(data: bytes) -> int:
    """Return where the word-bytes that end `data` begin (len(data) if none do)."""
    match = _TRAILING_WORD_BYTES.search(data)
    return match.start() if match is not None else len(data)


def _sniff_delimiter(path: Path, encoding: str, kind: str) -> str:
    """Return the delimiter used most in the first non-blank line among those `kind` allows."""
    candidates = {"tsv": "\t", "csv": ",;", "sniff": "\t,;"}[kind]
    with path.open(encoding=encoding, newline="") as file:
        first_line = next((line for line in file if line.strip()), "")
    return max(candidates, key=first_line.count)


def _text_rows(path: Path, encoding: str, delimiter: str) -> Rows:
    """Yield (line, cells) of a text table, reading it a line at a time.

    The file is read with newline="": a line ends at \\n, \\r or \\r\\n, and a line break
    inside a quoted cell stays in the cell, as the csv module expects.
    """
    with path.open(encoding=encoding, newline="") as file:
        reader = csv.reader(file, delimiter=delimiter)
        line = 1
        try:
            for cells in reader:
                yield line, cells
                line = reader.line_num + 1
        except csv.Error as error:
            raise InputError(f"{path}:{line}: cannot split the line into cells: {error}") from None


def _xlsx_rows(path: Path, sheet: str | None) -> tuple[Rows, int]:
    # A file, not its name: openpyxl refuses a name without a workbook's extension. The
    # rows are read lazily from it, so it stays open until they are read or refused.
    file = path.open("rb")
    try:
        workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except (
        zipfile.BadZipFile,
        InvalidFileException,
        ParseError,
        KeyError,
        OSError,
        ValueError,
    ) as error:
        file.close()
        raise InputError(f"{path}: not a readable .xlsx workbook: {_reason(error)}") from None

    def close() -> None:
        workbook.close()
        file.close()

    worksheets = {worksheet.title: worksheet for worksheet in workbook.worksheets}
    if not worksheets:
        close()
        raise InputError(f"{path}: the workbook has no worksheet")
    if sheet is None:
        sheet = next(iter(worksheets))
    if sheet not in worksheets:
        close()
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
            raise InputError(f"{path}: sheet {sheet!r} cannot be read: {_reason(error)}") from None
        finally:
            close()

    return rows(), row_count
