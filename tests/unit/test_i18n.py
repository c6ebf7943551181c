"""What the web pages will use too: a reader's language from their setting or their
browser, and a Jinja2 environment that writes in it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from reminder.errors import TemplateError
from reminder.mail.i18n import negotiate_language, translations, wording
from reminder.mail.render import environment_for

LANGUAGES = ("en", "tr")


@pytest.mark.parametrize(
    ("accept_language", "preferred", "office", "expected"),
    [
        ("tr-TR,tr;q=0.9,en;q=0.8", None, "en", "tr"),  # the browser's first choice
        ("en-GB,en;q=0.9,tr;q=0.8", None, "tr", "en"),
        ("de-DE,tr;q=0.5", None, "en", "tr"),  # the best one with a catalog
        ("tr;q=0.2,en;q=0.9", None, "tr", "en"),  # by quality, not by order
        ("de,fr", None, "tr", "tr"),  # nothing with a catalog: the office's
        ("en;q=0, tr;q=0", None, "tr", "tr"),  # q=0 means "not this one"
        ("", None, "tr", "tr"),
        (None, None, "en", "en"),
        (";;,q=x,en;q=abc", None, "tr", "tr"),  # malformed: as if none
        ("en", "tr", "en", "tr"),  # a user's own setting wins over the browser
        ("tr", "de", "en", "tr"),  # ... when it has a catalog
        # Tags are case-insensitive: the answer is the catalog's own name.
        ("EN", None, "tr", "en"),
        ("TR-TR", None, "en", "tr"),
        ("Tr", None, "en", "tr"),
    ],
)
def test_negotiate_language(
    accept_language: str | None, preferred: str | None, office: str, expected: str
) -> None:
    found = negotiate_language(
        accept_language, preferred=preferred, office=office, available=LANGUAGES
    )
    assert found == expected


def test_an_environment_writes_in_its_language(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(
        "<p>{% trans %}Total{% endtrans %}: {{ day|date }}, {{ 'GE'|country_name }}</p>\n",
        encoding="utf-8",
    )
    day = date(2022, 1, 17)
    turkish = environment_for("tr", (tmp_path,)).get_template("page.html").render(day=day)
    english = environment_for("en", (tmp_path,)).get_template("page.html").render(day=day)
    assert turkish == "<p>Toplam: 17 Ocak 2022, Gürcistan</p>"
    assert english == "<p>Total: 17 January 2022, Georgia</p>"


def test_catalogs_load_once_and_a_missing_one_is_an_error() -> None:
    assert translations("tr") is translations("tr")
    assert wording("tr").words.gettext("Total") == "Toplam"
    assert wording("en").words.gettext("Total") == "Total"
    with pytest.raises(TemplateError, match="'zz' catalog cannot be read"):
        translations("zz")
