"""The importer's data-quality warnings: written once, in English, and read back in the
reader's language.

A warning is stored with its agreement as the English line the import report prints
(`reminder import` and the CLI stay English). Each is made here from a message id with
named fields; mail shows it in the reader's language by matching the stored line
against the same message ids and translating it with its fields. A line that matches
none (written by an older version) is shown as stored.

Pure: no I/O; the translations are handed in (see wording).
"""

from __future__ import annotations

import functools
import re
from gettext import NullTranslations
from typing import Protocol


class Gettext(Protocol):
    """A catalog, as far as a warning needs one."""

    def gettext(self, message: str, /) -> str: ...


def N_(message: str) -> str:  # gettext's name for "mark, do not translate yet"
    """Return `message` unchanged: marks a message id for extraction (pybabel's N_)."""
    return message


COUNTRY_APPROXIMATE = N_("country %(country)s matched approximately to %(code)s (%(name)s)")
COUNTRY_EMPTY = N_("the country is empty")
COUNTRY_UNKNOWN = N_("country %(country)s is not a known country; kept without a code")
CONCLUDED_PARTIAL = N_("conclusion date %(written)s is not a full date; counting from %(day)s")
CONCLUDED_PARTIAL_UNTIL = N_(
    "conclusion date %(written)s is not a full date; counting from %(day)s, so the "
    "effective-until date is approximate"
)
UNTIL_WITHOUT_DAY = N_("effective-until %(until)s has no day; using %(day)s")
UNTIL_YEAR_OFF_TERM = N_(
    "effective-until year %(year)s is not the conclusion year %(start)s + the "
    "%(term)s-year term (%(expected)s); keeping %(year)s"
)

#: Every warning's message id, the longest first: one that extends another is tried first.
MESSAGES = tuple(
    sorted(
        (
            COUNTRY_APPROXIMATE,
            COUNTRY_EMPTY,
            COUNTRY_UNKNOWN,
            CONCLUDED_PARTIAL,
            CONCLUDED_PARTIAL_UNTIL,
            UNTIL_WITHOUT_DAY,
            UNTIL_YEAR_OFF_TERM,
        ),
        key=len,
        reverse=True,
    )
)

_FIELD = re.compile(r"%\((\w+)\)s")


def warning(message: str, **fields: object) -> str:
    """Return the stored (English) line of `message` with its `fields`."""
    return message % {name: str(value) for name, value in fields.items()}


@functools.cache
def _pattern(message: str) -> re.Pattern[str]:
    """Return a regex matching the English line of `message`, a group per field (a field
    that appears twice must be the same text twice)."""
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    for found in _FIELD.finditer(message):
        parts.append(re.escape(message[position : found.start()]))
        name = found[1]
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        position = found.end()
    parts.append(re.escape(message[position:]))
    return re.compile("".join(parts), re.DOTALL)


def translated(line: str, words: Gettext) -> str:
    """Return a stored warning line in the language of `words`; unknown lines as they are."""
    if type(words) is NullTranslations:  # English: the line is already the message
        return line
    for message in MESSAGES:
        found = _pattern(message).fullmatch(line)
        if found is not None:
            return words.gettext(message) % found.groupdict()
    return line
