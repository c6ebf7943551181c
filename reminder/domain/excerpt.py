"""How a value read from a table is shown inside a message: whole when it is short,
cut when it is long.

A message names the file and line, so the reader can open the table for the rest; a
cell of 100 kB, or a header row of 100,000 columns, quoted whole would bury the one line
that says what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Characters of a value shown before it is cut.
SHOWN_CHARACTERS = 60
#: Names listed before "and N more".
SHOWN_NAMES = 10


def excerpt(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """Return `text` quoted as repr() quotes it, cut after `limit` characters when longer.

    A cut value ends with "... (N characters)" so that its length is still told.
    """
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def clipped(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """Return `text` as it is when short; cut after `limit` characters as `excerpt` cuts."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def listing(texts: Sequence[str], limit: int = SHOWN_NAMES) -> str:
    """Return the first `limit` of `texts` as excerpts joined by commas, then "and N more".

    Returns "" for no texts.
    """
    shown = ", ".join(excerpt(text) for text in texts[:limit])
    rest = len(texts) - limit
    return f"{shown} and {rest:,} more" if rest > 0 else shown
