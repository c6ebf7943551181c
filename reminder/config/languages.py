"""Which languages mail can be written in: English, the language of the message ids,
and each language with a catalog in reminder/locale/ (LANG/LC_MESSAGES/messages.po, and
in a built wheel its compiled messages.mo).

Read from the folder without Babel (which lives behind domain, mail and web), so that
the config can refuse a language with no catalog when it is loaded, not when the first
mail is rendered.
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path

import reminder

#: The language the templates and the code are written in; it needs no catalog.
SOURCE_LANGUAGE = "en"
#: The gettext domain of the catalogs.
DOMAIN = "messages"


def locale_dir() -> Path:
    """Return the folder of the catalogs, inside the package."""
    return Path(reminder.__file__).parent / "locale"


@functools.cache
def catalog_languages() -> tuple[str, ...]:
    """Return the languages mail can be written in: "en" first, then those with a catalog."""
    folder = locale_dir()
    found = (
        sorted(
            path.name
            for path in folder.iterdir()
            if path.is_dir()
            and any((path / "LC_MESSAGES" / f"{DOMAIN}{ext}").is_file() for ext in (".po", ".mo"))
        )
        if folder.is_dir()
        else []
    )
    return (SOURCE_LANGUAGE, *(language for language in found if language != SOURCE_LANGUAGE))


def language_reason(value: str) -> str | None:
    """Return why `value` is not a language mail can be written in, or None."""
    languages = catalog_languages()
    if value in languages:
        return None
    close = difflib.get_close_matches(value.lower(), languages, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close and close[0] != value else ""
    listed = ", ".join(repr(language) for language in languages)
    return f"no catalog for language {value!r}{hint}; available: {listed}"
