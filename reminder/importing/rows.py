"""Tables (tsv/csv/xlsx) -> validated agreement rows, with FILE:LINE problems.

No database and no printing: `iter_table` streams AgreementInput rows, RowProblems and
TableWarnings (cells are read by `cells`, the header by `columns`); `read_table` gathers
them into an ImportResult. A whole file that cannot be used raises InputError with one
line naming the file. Line numbers are physical lines of
the file (for a workbook, the sheet's row numbers), so the office can find them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import cast

from reminder.domain import data_warnings
from reminder.domain.countries import NO_ALIASES, Aliases, CountryLookup, lookup_country
from reminder.domain.dates import (
    PartialDate,
    format_partial,
    partial_from_cell,
    resolve_effective_until,
)
from reminder.domain.excerpt import excerpt, listing
from reminder.domain.names import normalize_key
from reminder.domain.records import AgreementInput, CountryMatch, Precision, UntilSource
from reminder.errors import InputError
from reminder.importing.cells import cell_text, clean, one_line, split_partner
from reminder.importing.columns import NEEDED, Header, read_header
from reminder.importing.tables import DEFAULT_MAX_BYTES, FORMATS, Row, open_table

__all__ = [
    "FORMATS",
    "ImportResult",
    "RowProblem",
    "TableWarning",
    "count_lines",
    "duplicate_row",
    "iter_table",
    "normalize_key",
    "read_table",
]


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that cannot be imported; str() gives "FILE:LINE: reason"."""

    file: str
    line: int
    reason: str

    def __post_init__(self) -> None:
        # A reason quotes cell values, and a quoted cell may hold a line break: the
        # report must stay one line per problem.
        object.__setattr__(self, "reason", one_line(self.reason))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class TableWarning:
    """Something imported but worth a look; str() gives "FILE:LINE: text"."""

    file: str
    line: int
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", one_line(self.text))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


@dataclass(slots=True)
class ImportResult:
    """Everything one table gave: rows to store, rows refused, and warnings as lines."""

    rows: list[AgreementInput] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_table(
    path: Path,
    *,
    fmt: str = "auto",
    sheet: str | None = None,
    term_years: int,
    default_programme: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    country_aliases: Aliases = NO_ALIASES,
) -> ImportResult:
    """Read and validate a whole table; see `iter_table` for the rules.

    Returns the ImportResult. Raises InputError when the file as a whole cannot be used.
    """
    result = ImportResult()
    items = iter_table(
        path,
        fmt=fmt,
        sheet=sheet,
        term_years=term_years,
        default_programme=default_programme,
        max_bytes=max_bytes,
        country_aliases=country_aliases,
    )
    for item in items:
        if isinstance(item, AgreementInput):
            result.rows.append(item)
        elif isinstance(item, RowProblem):
            result.problems.append(item)
        else:
            result.warnings.append(str(item))
    return result


def iter_table(
    path: Path,
    *,
    fmt: str = "auto",
    sheet: str | None = None,
    term_years: int,
    default_programme: str,
    find_duplicates: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    country_aliases: Aliases = NO_ALIASES,
    name: str | None = None,
) -> Iterator[AgreementInput | RowProblem | TableWarning]:
    """Stream a table's rows, validated, in file order.

    `fmt` is auto, tsv, csv or xlsx; `sheet` picks a workbook sheet (default the first);
    a file larger than `max_bytes` (a workbook unpacking to more) is refused. Blank lines,
    a footer ("Updated on ...") and a last line with a single filled cell are skipped.
    Every warning is yielded as a TableWarning just before its row; the row also
    carries its warning texts. Items carry their line, so with `count_lines` a caller can
    show progress. A row with the identity (partner, programme, conclusion date) of an
    earlier row is a RowProblem (`duplicate_row`), found with every identity held in
    memory; `find_duplicates=False` leaves that to the caller (the import does it in
    the database, see `importing.pipeline`). `name` is what the rows and their problems
    call the file (default: its path), and what the agreements record as their source.

    Returns the iterator. Raises InputError at once when the file cannot be opened, is too
    large, is not a table or lacks a needed column.
    """
    file = str(path) if name is None else name
    table = open_table(path, fmt=fmt, sheet=sheet, max_bytes=max_bytes)
    try:
        header = read_header(file, table.rows)
    except InputError:
        table.rows.close()
        raise
    return _validated_rows(
        file,
        header,
        table.rows,
        table.short_rows_are_padded,
        term_years,
        default_programme,
        first_line_of={} if find_duplicates else None,
        country_aliases=country_aliases,
    )


def count_lines(
    path: Path,
    *,
    fmt: str = "auto",
    sheet: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> int:
    """Return the number of lines (workbook: rows) of the table, for a progress bar.

    Raises InputError like `iter_table`.
    """
    table = open_table(path, fmt=fmt, sheet=sheet, max_bytes=max_bytes)
    table.rows.close()
    return table.line_count


@functools.lru_cache(maxsize=4096)
def _country_of(text: str, aliases: Aliases) -> tuple[str, CountryLookup]:
    """Return the cleaned country cell text and what it matched, `aliases` ([countries]
    aliases) first.

    A table repeats a few hundred country texts: each is cleaned and looked up once.
    """
    country = clean(text)
    return country, lookup_country(country, aliases)


@functools.lru_cache(maxsize=4096)
def _programme_of(text: str, default_programme: str) -> tuple[str, str]:
    """Return the programme of a cell (the default when blank) and its key."""
    programme = clean(text) or default_programme
    return programme, normalize_key(programme)


def _validated_rows(
    file: str,
    header: Header,
    rows: Iterator[Row],
    pads_short_rows: bool,
    term_years: int,
    default_programme: str,
    *,
    first_line_of: dict[tuple[str, str, date], int] | None,
    country_aliases: Aliases = NO_ALIASES,
) -> Iterator[AgreementInput | RowProblem | TableWarning]:
    """Yield each data row after the header as a row or a problem, warnings first.

    `first_line_of` (the line of each identity met) finds duplicates; None: no check.
    """
    if header.unknown:
        ignored = listing(header.unknown)
        yield TableWarning(file, header.line, f"ignored unknown column(s): {ignored}")
    single_cell_line: TableWarning | None = None
    for line, cells in rows:
        # A text table's cells are strings already; a workbook's are typed values.
        texts: Iterable[str] = (
            map(cell_text, cells) if pads_short_rows else cast("Sequence[str]", cells)
        )
        filled = [text for text in texts if text.strip()]
        if not filled or _is_footer(filled):
            continue
        if single_cell_line is not None:
            yield single_cell_line  # it was not the footer after all
            single_cell_line = None
        if len(filled) == 1:
            text = f"skipped a line with a single filled cell ({excerpt(clean(filled[0]))})"
            single_cell_line = TableWarning(file, line, text)
            continue
        if not pads_short_rows and len(cells) <= max(header.columns[name] for name in NEEDED):
            yield RowProblem(
                file, line, f"too few cells: {len(cells)} where the header has {header.width}"
            )
            continue
        item = _build_row(file, line, header, cells, term_years, default_programme, country_aliases)
        if isinstance(item, AgreementInput):
            identity = (item.partner_key, item.programme_key, item.concluded)
            first_line = None if first_line_of is None else first_line_of.get(identity)
            if first_line is not None:
                item = duplicate_row(item, first_line)
            else:
                if first_line_of is not None:
                    first_line_of[identity] = line
                for text in item.warnings:
                    yield TableWarning(file, line, text)
        yield item


def duplicate_row(row: AgreementInput, first_line: int) -> RowProblem:
    """Return the problem of `row`, whose identity the row at `first_line` of its file had."""
    reason = f"the same partner, programme and conclusion date as line {first_line}"
    return RowProblem(row.source_file, row.source_line, reason)


def _build_row(
    file: str,
    line: int,
    header: Header,
    cells: Sequence[object],
    term_years: int,
    default_programme: str,
    country_aliases: Aliases = NO_ALIASES,
) -> AgreementInput | RowProblem:
    """Return the row as an AgreementInput, or one RowProblem naming everything wrong."""

    columns, width = header.columns, len(cells)

    def cell(name: str) -> object:
        index = columns.get(name)
        return cells[index] if index is not None and index < width else None

    reasons: list[str] = []
    warnings: list[str] = []
    partner, fragment_note = split_partner(cell_text(cell("partner")))
    if not partner:
        reasons.append("the partner (university) is empty")
    date_reasons: list[str] = []
    concluded = _read_date(cell("concluded"), "conclusion date", date_reasons, required=True)
    until = _read_date(cell("effective_until"), "effective-until", date_reasons, required=False)
    resolved = None
    if concluded is not None and not date_reasons:
        try:
            resolved = resolve_effective_until(concluded, until, term_years)
        except ValueError as error:
            date_reasons.append(str(error))
    reasons.extend(date_reasons)
    coordinator_email = cell_text(cell("coordinator_email")).strip() or None
    if coordinator_email is not None and not _is_email_address(coordinator_email):
        reasons.append(f"coordinator email {excerpt(coordinator_email)} is not one valid address")
    if reasons or concluded is None or resolved is None:
        return RowProblem(file, line, "; ".join(reasons))

    country, found = _country_of(cell_text(cell("country")), country_aliases)
    if found.match is CountryMatch.APPROXIMATE:
        fields = {"country": excerpt(country), "code": found.code, "name": found.name}
        warnings.append(data_warnings.warning(data_warnings.COUNTRY_APPROXIMATE, **fields))
    elif not country:
        warnings.append(data_warnings.COUNTRY_EMPTY)
    elif found.match is CountryMatch.UNKNOWN:
        warnings.append(
            data_warnings.warning(data_warnings.COUNTRY_UNKNOWN, country=excerpt(country))
        )
    if concluded.precision is not Precision.DAY:
        written = cell_text(cell("concluded")).strip()
        counted_from = format_partial(concluded.earliest(), Precision.DAY)
        message = (
            data_warnings.CONCLUDED_PARTIAL
            if resolved.source is UntilSource.GIVEN
            else data_warnings.CONCLUDED_PARTIAL_UNTIL
        )
        warnings.append(data_warnings.warning(message, written=written, day=counted_from))
    if until is not None and until.precision is Precision.MONTH:
        day_used = format_partial(resolved.effective_until, Precision.DAY)
        warnings.append(
            data_warnings.warning(data_warnings.UNTIL_WITHOUT_DAY, until=until, day=day_used)
        )
    if resolved.warning is not None:
        warnings.append(resolved.warning)
    programme, programme_key = _programme_of(cell_text(cell("programme")), default_programme)
    notes = "; ".join(note for note in (clean(cell_text(cell("notes"))), fragment_note) if note)
    return AgreementInput(
        partner=partner,
        partner_key=normalize_key(partner),
        country=country,
        country_code=found.code,
        country_match=found.match,
        programme=programme,
        programme_key=programme_key,
        notes=notes,
        concluded=concluded.earliest(),
        concluded_precision=concluded.precision,
        effective_until=resolved.effective_until,
        effective_until_source=resolved.source,
        approximate=resolved.approximate,
        coordinator_email=coordinator_email,
        source_file=file,
        source_line=line,
        warnings=tuple(warnings),
    )


def _is_footer(filled: list[str]) -> bool:
    """Return whether the filled cells are an "Updated on ..." line (a CSV may split it)."""
    return len(filled) <= 2 and filled[0].strip().casefold().startswith("updated")


def _read_date(
    value: object, label: str, reasons: list[str], *, required: bool
) -> PartialDate | None:
    """Return the cell as a PartialDate or None; add a reason when invalid or missing."""
    if not cell_text(value).strip():
        if required:
            reasons.append(f"the {label} is empty")
        return None
    try:
        return partial_from_cell(value)
    except ValueError as error:
        reasons.append(f"{label} {error}")
        return None


def _is_email_address(text: str) -> bool:
    """Return whether `text` is one plausible address: one @, no spaces, a dotted domain."""
    if text.count("@") != 1 or any(char.isspace() for char in text):
        return False
    local, domain = text.split("@")
    labels = domain.split(".")
    return bool(local) and len(labels) >= 2 and all(labels)
