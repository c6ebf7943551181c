"""Cells of a table as text: clean-up, identity keys, and problems kept on one line.

A cell may be a string (text tables) or a typed value (workbooks), and may hold HTML
from a web page the table was copied from; the functions here turn it into the text
the office reads and the key an agreement is identified by.
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime

from reminder.domain.dates import format_partial
from reminder.domain.records import Precision

_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# A name followed by one HTML element (or a line break) holding a remark about it.
_TRAILING_FRAGMENT = re.compile(
    r"(?P<name>[^<]*?)\s*(?:<(?P<tag>[A-Za-z][\w-]*)\b[^<>]*>(?P<inner>.*)</(?P=tag)\s*>"
    r"|<br\s*/?>(?P<after_break>.*))\s*",
    re.DOTALL | re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """Return `text` with line breaks and other control characters shown as escapes."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def cell_text(value: object) -> str:
    """Return a cell as text: dates as the office writes them, whole numbers without .0."""
    if type(value) is str:  # every cell of a text table: the common case, first
        return value
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return format_partial(value, Precision.DAY)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def clean(text: str) -> str:
    """Return display text: HTML tags dropped, entities decoded, whitespace collapsed."""
    if "<" not in text:  # no tag to drop: most cells
        return " ".join(html.unescape(text).split())
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def split_partner(text: str) -> tuple[str, str]:
    """Return (partner name, note) where a trailing HTML fragment in the cell is the note.

    The footnote asterisk that tied the fragment to the name is dropped with the tag.
    """
    if "<" not in text:  # the fragment is an HTML element: no "<", no fragment
        return clean(text), ""
    match = _TRAILING_FRAGMENT.fullmatch(text.strip())
    if match is None or not clean(match["name"]):
        return clean(text), ""
    inner = match["inner"] if match["inner"] is not None else match["after_break"]
    return clean(match["name"]), clean(inner).lstrip("*† ")
