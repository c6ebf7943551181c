"""The header row of a table: which column holds which field, by its many names.

Tables come from different offices and years, in English or Turkish: "University",
"Partner institution", "university name" and "Üniversite" all name the partner. A
header is recognised by the normalized text of its cells (case, accents and the Turkish
dotless i do not count); a needed column missing is an InputError naming the headers
found.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from reminder.domain.excerpt import excerpt, listing
from reminder.domain.names import normalize_key
from reminder.errors import InputError
from reminder.importing.cells import cell_text, clean
from reminder.importing.tables import Row

_HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "partner": (
        *("university", "partner", "institution", "partner institution", "university name"),
        # Turkish: the headers of a Turkish office's own export.
        *("üniversite", "üniversite adı", "kurum", "kurum adı", "partner kurum"),
    ),
    "country": ("country", "ülke"),
    "concluded": (
        *("conclusion date", "signed", "signed on", "start date", "date of signature"),
        "concluded",  # the web page's CSV/XLSX export, so that it imports back
        *("imza tarihi", "sözleşme tarihi", "başlangıç tarihi", "anlaşma tarihi"),
    ),
    "effective_until": (
        *("effective until", "valid until", "expiry date", "expiry", "end date", "expires"),
        *("geçerlilik", "geçerlilik tarihi", "bitiş tarihi", "son geçerlilik tarihi"),
    ),
    "programme": ("programme", "program"),
    "coordinator_email": (
        *("coordinator", "coordinator email", "coordinator e-mail"),
        *("contact email", "contact e-mail"),
        *("koordinatör", "koordinatör e-posta", "koordinatör e-postası"),
    ),
    "notes": ("notes", "note", "remarks", "notlar", "not", "açıklama", "açıklamalar"),
    # A running number, not data. "#" normalizes to the empty key, like a blank header.
    "row_number": ("no", "#", "nr", "sıra", "sıra no"),
}
NEEDED = {"partner": "University", "country": "Country", "concluded": "Conclusion date"}


@dataclass(frozen=True, slots=True)
class Header:
    """The header row: its line, the column of each field, its width, unknown headers."""

    line: int
    columns: dict[str, int]
    width: int
    unknown: tuple[str, ...]


HEADER_FIELDS = {
    normalize_key(synonym): name
    for name, synonyms in _HEADER_SYNONYMS.items()
    for synonym in synonyms
}


def read_header(file: str, rows: Iterator[Row]) -> Header:
    """Return the first non-blank row as the header; raise InputError if it lacks columns."""
    for line, cells in rows:
        texts = [clean(cell_text(cell)) for cell in cells]
        if any(texts):
            return map_header(file, line, texts)
    raise InputError(f"{file}: no header row: the table has only blank lines")


def map_header(file: str, line: int, texts: list[str]) -> Header:
    """Return the header of the cell `texts` at `line`; raise InputError if it is unusable."""
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, text in enumerate(texts):
        name = HEADER_FIELDS.get(normalize_key(text))
        if name is None:
            if text:
                unknown.append(text)
        elif name in columns:
            first = texts[columns[name]]
            raise InputError(
                f"{file}:{line}: columns {excerpt(first)} and {excerpt(text)} mean the same"
            )
        elif name != "row_number":
            columns[name] = index
    missing = [
        f"{name} (e.g. {example!r})" for name, example in NEEDED.items() if name not in columns
    ]
    if missing:
        found = listing([text for text in texts if text])
        raise InputError(
            f"{file}:{line}: missing column(s) {', '.join(missing)}; the headers found: {found}"
        )
    return Header(line, columns, len(texts), tuple(unknown))
