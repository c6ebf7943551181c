"""The reader's language: gettext catalogs, Jinja2 environments that translate, and the
choice of a language from what a reader asked for.

Catalogs live in reminder/locale/LANG/LC_MESSAGES/messages.po (see config.languages).
A built wheel also carries messages.mo, compiled by the build hook (hatch_build.py);
a source checkout or an editable install has only the .po, which is compiled in
memory here, once per process, with the same Babel functions. A configured language
whose catalog cannot be read is an error, never a quiet fall back to English.

The web pages (web/) use `translations`, `wording` and `negotiate_language` too, so
that a page and a digest say the same thing in the same words.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Sequence

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from reminder.config.languages import DOMAIN, SOURCE_LANGUAGE, catalog_languages, locale_dir
from reminder.domain.wording import Wording
from reminder.errors import TemplateError


@functools.lru_cache(maxsize=16)
def translations(language: str) -> Translations:
    """Return the catalog of `language`; English, the language of the message ids, has
    an empty one.

    Raises TemplateError when the language has no catalog or it cannot be read.
    """
    if language == SOURCE_LANGUAGE:
        return Translations(domain=DOMAIN)
    folder = locale_dir() / language / "LC_MESSAGES"
    compiled, source = folder / f"{DOMAIN}.mo", folder / f"{DOMAIN}.po"
    try:
        if compiled.is_file() and (
            not source.is_file() or compiled.stat().st_mtime >= source.stat().st_mtime
        ):
            with compiled.open("rb") as file:
                return Translations(file, domain=DOMAIN)
        with source.open("rb") as file:
            catalog = read_po(file, locale=language, domain=DOMAIN)
    except (OSError, ValueError, UnknownLocaleError) as error:
        raise TemplateError(f"the {language!r} catalog cannot be read: {error}") from error
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def wording(language: str) -> Wording:
    """Return the wording of `language`, its catalog loaded. Raises TemplateError."""
    return Wording(translations(language), language)


def negotiate_language(
    accept_language: str | None,
    *,
    preferred: str | None = None,
    office: str = SOURCE_LANGUAGE,
    available: Sequence[str] | None = None,
) -> str:
    """Return the language to answer a reader in: their own (`preferred`, a web user's
    setting) when it has a catalog, else the best of the browser's `Accept-Language`
    header, else the office's.

    "tr-TR,tr;q=0.9,en;q=0.8" gives "tr"; a header that names only languages without a
    catalog gives `office`. Never raises: a malformed header counts as none.
    """
    languages = tuple(available if available is not None else catalog_languages())
    if preferred in languages:
        return preferred
    wanted = [tag.replace("-", "_") for tag in _accepted(accept_language or "")]
    found = negotiate_locale(wanted, languages, sep="_") if wanted else None
    if found is None:
        # "tr_TR" matches a "tr" catalog: compare the languages alone too.
        bare = [Locale.parse(tag).language for tag in wanted if _parses(tag)]
        found = next((language for language in bare if language in languages), None)
    # Babel answers in the browser's spelling ("TR" for "TR-TR", "EN"): the catalog's
    # own name is what a catalog is found by.
    by_lower = {language.lower(): language for language in languages}
    return by_lower.get(found.lower(), office) if found is not None else office


def _accepted(header: str) -> Iterable[str]:
    """Yield the language tags of an Accept-Language header, the most wanted first."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag.strip()))
    return (tag for _, _, tag in sorted(ranked))


def _parses(tag: str) -> bool:
    try:
        Locale.parse(tag)
    except (ValueError, UnknownLocaleError):
        return False
    return True
