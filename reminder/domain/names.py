"""Names as keys: the form in which two spellings of one name are the same.

The import identifies partners and programmes by it, and routing matches the
coordinators' programmes by it, so that what the import holds to be one programme is
routed as one.
"""

from __future__ import annotations

import re
import unicodedata

_NON_ALPHANUMERIC = re.compile(r"[\W_]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def normalize_key(text: str) -> str:
    """Return the identity form of a name: no accents, casefolded, punctuation as spaces.

    "Doğu Akdeniz Üniversitesi" and "DOGU AKDENIZ UNIVERSITESI" give the same key.
    """
    if text.isascii():
        # NFKD, the combining marks and the dotless i concern only non-ASCII text.
        return " ".join(_NON_ALPHANUMERIC.sub(" ", text.lower()).split())
    decomposed = unicodedata.normalize("NFKD", text)
    # Combining marks are never ASCII, so only the non-ASCII characters are looked at: an
    # import normalizes two keys per row, and most names are ASCII.
    bare = _NON_ASCII.sub(_unless_combining, decomposed).casefold()
    # NFKD leaves the Turkish dotless i alone, yet "Işık" and "ISIK" must meet.  # noqa: RUF003
    dotted = bare.replace("\N{LATIN SMALL LETTER DOTLESS I}", "i")
    return " ".join(_NON_ALPHANUMERIC.sub(" ", dotted).split())


def _unless_combining(match: re.Match[str]) -> str:
    """Return the matched character, or "" when it is a combining mark."""
    return "" if unicodedata.combining(match[0]) else match[0]
