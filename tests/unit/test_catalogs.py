"""The gettext catalogs: extraction finds every text a reader sees, and every catalog
translates all of it.

The messages are extracted afresh from the sources with Babel's API and the project's
babel.cfg, as `pybabel extract -F babel.cfg` does, so a string added to a template or to
the wording without a translation fails here, not in a Turkish coordinator's inbox.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations
from factories import agreement_view

from reminder.config.languages import catalog_languages, locale_dir
from reminder.domain.records import CountryMatch, UntilSource
from reminder.domain.reminder_digest import DueItem, Recipient, ReminderDigest
from reminder.domain.weekly_digest import Change, UndeliveredMail, WeeklyBuilder, WeeklyDigest
from reminder.domain.windows import NOTICE, Status
from reminder.domain.wording import Wording
from reminder.mail.render import TEMPLATE_NAMES, Renderer, packaged_templates_dir, template_filters

REPOSITORY = Path(__file__).resolve().parents[2]
TRANSLATED = [language for language in catalog_languages() if language != "en"]


def extracted() -> Catalog:
    """Return the messages `pybabel extract -F babel.cfg .` finds in the repository."""
    with (REPOSITORY / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    catalog = Catalog()
    for filename, line, message, comments, context in extract_from_dir(
        REPOSITORY, method_map, options_map
    ):
        catalog.add(message, None, [(filename, line)], auto_comments=comments, context=context)
    return catalog


def message_ids(catalog: Catalog) -> set[object]:
    return {message.id for message in catalog if message.id}


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def test_turkish_ships() -> None:
    assert "tr" in TRANSLATED


def test_the_template_catalog_is_current() -> None:
    """reminder/locale/messages.pot holds exactly what extraction finds today."""
    template = read_catalog(locale_dir() / "messages.pot")
    fresh = message_ids(extracted())
    assert len(fresh) > 100, "extraction found too little: is babel.cfg read?"
    assert message_ids(template) == fresh, "run pybabel extract (see docs/templates.md)"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(language: str) -> None:
    path = locale_dir() / language / "LC_MESSAGES" / "messages.po"
    catalog = read_catalog(path, language)
    translated = {message.id: message for message in catalog if message.id}
    missing = sorted(str(key) for key in message_ids(extracted()) - set(translated))
    assert not missing, f"{path.name} ({language}) lacks: {missing}"
    for message in translated.values():
        assert not message.fuzzy, f"fuzzy in {language}: {message.id!r}"
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert len(strings) == catalog.num_plurals or not message.pluralizable
        assert all(strings), f"untranslated in {language}: {message.id!r}"
        # A placeholder lost or misspelt in translation is a KeyError at send time.
        wanted = set(re.findall(r"%\((\w+)\)", str(message.id)))
        for string in strings:
            assert set(re.findall(r"%\((\w+)\)", str(string))) <= wanted | {"num"}, message.id


# ---------------------------------------------------------------------------------------
# No text outside a translation block


def _template_texts(name: str) -> Iterator[tuple[int, str]]:
    """Yield (line, text) of each piece of template data outside {% trans %} blocks."""
    environment = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    source = (packaged_templates_dir() / name).read_text(encoding="utf-8")
    depth = 0
    tokens = [token for token in environment.lex(source) if token[1] != "whitespace"]
    for index, (line, kind, value) in enumerate(tokens):
        if kind == "name" and index and tokens[index - 1][1] == "block_begin":
            if value == "trans":
                depth += 1
            elif value == "endtrans":
                depth -= 1
        elif kind == "data" and depth == 0:
            yield line, value


def _visible_words(html_or_text: str) -> list[str]:
    """Return the words a reader would see: without tags, conditional comments, entities."""
    text = re.sub(r"<!--.*?-->", " ", html_or_text, flags=re.DOTALL)
    text = re.sub(r"<[^>]*>|<[^>]*$|^[^<]*>", " ", text)
    # Attributes between two tags of a template: <span{% if %} class="expired"{% endif %}>.
    text = re.sub(r"[\w-]+=(\"[^\"]*\"?)?", " ", text)
    text = re.sub(r"&\w+;", " ", text)
    return re.findall(r"[^\W\d_]+", text)


@pytest.mark.parametrize("name", [name for name in TEMPLATE_NAMES if name != "styles.css"])
def test_no_template_has_text_outside_a_translation(name: str) -> None:
    stray = [
        f"{name}:{line}: {' '.join(words)}"
        for line, data in _template_texts(name)
        if (words := _visible_words(data))
    ]
    assert not stray, "text outside {% trans %} or _():\n" + "\n".join(stray)


def test_the_lint_sees_text_outside_a_translation(tmp_path: Path) -> None:
    assert _visible_words('<td class="x">Hello</td>') == ["Hello"]
    assert _visible_words('<td class="x"></td> &middot; (3) <span') == []


# ---------------------------------------------------------------------------------------
# Every string a digest shows is in the catalog


def _marked(catalog: Catalog) -> Translations:
    """Return translations that write every message of `catalog` as ⟦message⟧."""
    table: dict[object, str] = {}
    for message in catalog:
        if isinstance(message.id, tuple):
            for index, form in enumerate(message.id):
                table[(message.id[0], index)] = f"⟦{form}⟧"
        elif message.id:
            table[message.id] = f"⟦{message.id}⟧"
    translations = Translations()
    translations._catalog = table  # type: ignore[assignment]  # what gettext() reads
    translations.plural = lambda count: int(count != 1)
    return translations


def _full_reminder(recipient: Recipient) -> ReminderDigest:
    approximate = agreement_view(
        2,
        partner="Partner Two",
        approximate=True,
        effective_until_source=UntilSource.YEAR,
        notes="Some notes",
        data_warnings=("a warning",),
        country_match=CountryMatch.APPROXIMATE,
    )
    return ReminderDigest(
        recipient,
        date(2024, 3, 4),
        (
            DueItem(agreement_view(1, partner="Partner One"), NOTICE, -3),
            DueItem(approximate, 30, 25),
        ),
    )


def _full_weekly(recipient: Recipient, *, office_wide: bool = False) -> WeeklyDigest:
    builder = WeeklyBuilder(recipient, date(2024, 3, 4), 180, office_wide=office_wide)
    builder.add(
        agreement_view(1, partner="Partner One", effective_until=date(2024, 4, 1)),
        Status.EXPIRING,
        28,
    )
    builder.add(
        agreement_view(2, partner="Partner Two", effective_until=date(2024, 1, 1)),
        Status.EXPIRED,
        -63,
    )
    builder.add(
        agreement_view(
            3,
            partner="Partner Three",
            approximate=True,
            country_code=None,
            country_match=CountryMatch.UNKNOWN,
            snoozed_until=date(2024, 3, 20),
        ),
        Status.EXPIRING,
        100,
    )
    builder.add(
        agreement_view(4, partner="Partner Four", retired_reason="closed"), Status.RETIRED, 10
    )
    builder.add_unrouted(agreement_view(5, partner="Partner Five"), 7)
    digest = builder.build(
        (Change(agreement_view(6, partner="Partner Six"), "renewed", date(2024, 3, 1), "details"),)
    )
    refused = UndeliveredMail("<id@x>", "subject", "failed", (("a@x.edu", "550 no"),))
    return dataclasses.replace(digest, undelivered=(refused,))


def _leftover_words(text: str) -> list[str]:
    """Return the words of `text` outside ⟦⟧ marks, the test's data and the commands."""
    while "⟦" in text:  # marks nest where one message is put into another
        text, count = re.subn(r"⟦[^⟦⟧]*⟧", " ", text)
        assert count, text
    text = re.sub(r"<style.*?</style>|<!--.*?-->|<[^>]*>|&\w+;", " ", text, flags=re.DOTALL)
    data = {
        "Partner",
        "One",
        "Two",
        "Three",
        "Four",
        "Five",
        "Six",
        "Some",
        "notes",
        "a",
        "warning",
        "Azerbaijan",
        "AZ",
        "Erasmus",
        "KA",
        "Ayşe",
        "closed",
        "details",
        "subject",
        "id",
        "x",
        "edu",
        "no",
        "reminder",
        "renew",
        "retire",
        "reinstate",
        "outbox",
        "retry",
        "concluded",
        "until",
        "reason",
        "TEXT",
        "YYYY",
        "MM",
        "DD",
        "ID",
        "W",
    }
    # Month names are Babel's (CLDR), not the catalog's.
    months = {f"{date(2024, month, 1):%B}" for month in range(1, 13)}
    months |= {f"{date(2024, month, 1):%b}" for month in range(1, 13)} | {"Sept"}
    return [word for word in re.findall(r"[^\W\d_]+", text) if word not in data | months]


@pytest.mark.parametrize("kind", ["reminder", "weekly", "office"])
def test_every_text_a_digest_shows_comes_from_the_catalog(kind: str) -> None:
    """Rendered with every extracted message marked, nothing unmarked is left but data."""
    renderer = Renderer()
    marked = _marked(extracted())
    environment = renderer._environment("en")
    environment.install_gettext_translations(marked, newstyle=True)  # type: ignore[attr-defined]
    environment.filters.update(template_filters(Wording(marked, "en")))
    recipient = Recipient("ayse@example.edu", "Ayşe")
    if kind == "reminder":
        rendered = renderer.reminder(_full_reminder(recipient))
    else:
        rendered = renderer.weekly(_full_weekly(recipient, office_wide=kind == "office"))
    for part in (rendered.subject, rendered.text, rendered.html):
        assert not _leftover_words(part), (kind, _leftover_words(part))
