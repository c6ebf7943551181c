"""Every word a reader sees on the web pages goes through gettext, so that catalogs
can translate the pages without touching them; and the pages' Jinja2 environment
escapes every value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reminder.web.state import TEMPLATES_DIR, build_environment

TEMPLATES = sorted(TEMPLATES_DIR.glob("*.html"))
# What may stand outside gettext: markup, Jinja2 code, punctuation and symbols, and
# names that are the same in every language (the program, file formats, a time zone,
# a process id, an example country code).
_TRANSLATED = re.compile(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", re.DOTALL)
_JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_ATTRIBUTE = re.compile(r'\b(?:title|placeholder|aria-label|alt)="([^"{]*)"')
_SAME_IN_EVERY_LANGUAGE = {"reminder", "CSV", "XLSX", "UTC", "pid", "GE"}


def literal_words(source: str) -> list[str]:
    """Return the words of `source` that a reader sees and no gettext call holds."""
    attributes = [value for value in _ATTRIBUTE.findall(source) if value.strip()]
    text = _TAG.sub(" ", _JINJA.sub(" ", _TRANSLATED.sub(" ", source)))
    words = re.findall(r"[^\W\d_]+", " ".join([text, *attributes]))
    return [word for word in words if word not in _SAME_IN_EVERY_LANGUAGE]


@pytest.mark.parametrize("template", TEMPLATES, ids=[path.name for path in TEMPLATES])
def test_every_word_is_inside_gettext(template: Path) -> None:
    assert literal_words(template.read_text(encoding="utf-8")) == []


def test_the_checker_finds_a_word_outside_gettext() -> None:
    source = '<p title="Hello">{{ _("Fine") }} Plain {% trans %}Also fine{% endtrans %}</p>'
    assert literal_words(source) == ["Plain", "Hello"]


def test_the_environment_escapes_and_translates() -> None:
    environment = build_environment()
    rendered = environment.from_string('{{ _("Partner") }}: {{ name }}').render(
        name="<script>alert(1)</script>"
    )
    assert rendered == "Partner: &lt;script&gt;alert(1)&lt;/script&gt;"
