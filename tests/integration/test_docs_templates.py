"""docs/templates.md stays true: its example overrides render, and it names what templates get.

The examples are the fenced blocks after a `<!-- template-example: NAME -->` marker; each
is written into a templates_dir as NAME and rendered through the real Renderer.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from factories import agreement_view

from reminder.domain.records import AgreementView
from reminder.domain.reminder_digest import DueItem, Recipient, ReminderDigest, build_digests
from reminder.domain.weekly_digest import (
    Change,
    CountryCounts,
    Section,
    TimelineMonth,
    WeeklyDigest,
    WeeklyItem,
)
from reminder.mail.render import TEMPLATE_NAMES, Renderer

DOC = Path(__file__).resolve().parents[2] / "docs" / "templates.md"
EXAMPLE = re.compile(
    r"<!-- template-example: (?P<name>[\w.-]+) -->\n```jinja\n(?P<body>.*?)\n```", re.DOTALL
)
AS_OF = date(2022, 1, 17)
COORDINATOR = Recipient("ayse.yilmaz@example.edu", "Ayşe Yılmaz")


def examples() -> dict[str, str]:
    """Return the doc's example overrides: file name -> template text."""
    found = {m["name"]: m["body"] + "\n" for m in EXAMPLE.finditer(DOC.read_text("utf-8"))}
    assert found, f"no template example found in {DOC.name}"
    return found


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    """Return a templates_dir holding every example override of the doc."""
    for name, body in examples().items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    return tmp_path


def digest() -> ReminderDigest:
    """Return a digest of two agreements: one at the 7-day window, one at 90 days."""
    urgent = agreement_view(24, effective_until=date(2022, 1, 24))
    later = agreement_view(
        31,
        partner="Georgia University",
        country="Georgia",
        country_code="GE",
        effective_until=date(2022, 4, 10),
    )
    items = [DueItem(urgent, 7, 7), DueItem(later, 90, 83)]
    (built,) = build_digests(((COORDINATOR, item) for item in items), AS_OF)
    return built


def test_the_doc_overrides_the_subject_and_the_plain_text_body() -> None:
    # The test below relies on these two; a third example would be rendered too.
    assert {"reminder-subject.txt", "reminder-body.txt"} <= examples().keys()


def test_the_subject_example_renders_one_line_with_the_office_tag(overrides: Path) -> None:
    rendered = Renderer(overrides).reminder(digest())
    assert rendered.subject == (
        "[International Office] 2 agreements to renew: Baku State University expires in 7 days"
    )


def test_the_body_example_replaces_the_text_part_only(overrides: Path) -> None:
    rendered = Renderer(overrides).reminder(digest())
    assert rendered.text.startswith("Dear Ayşe Yılmaz,\n")
    assert "International Relations Office, room 204" in rendered.text
    assert "This message was sent automatically" not in rendered.text
    # The packaged macros still draw each agreement.
    assert "7-day reminder (1)" in rendered.text
    assert "reminder renew 31 --concluded YYYY-MM-DD" in rendered.text
    # The HTML body was not overridden: it is the packaged one, footer and all.
    assert "International Relations Office" not in rendered.html
    assert "This message was sent automatically" in rendered.html


def test_without_overrides_the_packaged_templates_render() -> None:
    rendered = Renderer().reminder(digest())
    assert rendered.subject.startswith("2 agreements to renew: Baku State University")
    assert "International Office" not in rendered.subject + rendered.text


def documented_names() -> set[str]:
    """Return every `name` written in backquotes in the doc."""
    return set(re.findall(r"`([^`\s(]+)", DOC.read_text("utf-8")))


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_template_is_documented(name: str) -> None:
    assert name in documented_names()


@pytest.mark.parametrize(
    "kind",
    [
        AgreementView,
        ReminderDigest,
        WeeklyDigest,
        DueItem,
        WeeklyItem,
        Section,
        Change,
        TimelineMonth,
        CountryCounts,
        Recipient,
    ],
)
def test_every_attribute_a_template_receives_is_documented(kind: Any) -> None:
    # Named tuples (AgreementView, DueItem) list their fields in _fields.
    fields = getattr(kind, "_fields", None) or [field.name for field in dataclasses.fields(kind)]
    properties = [name for name, value in vars(kind).items() if isinstance(value, property)]
    missing = sorted((set(fields) | set(properties)) - documented_names())
    assert not missing, f"{kind.__name__}: not in {DOC.name}: {missing}"
