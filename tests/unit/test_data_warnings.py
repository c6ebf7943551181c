"""The import's data-quality warnings: stored in English, shown in the reader's language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reminder.domain import data_warnings
from reminder.domain.wording import ENGLISH
from reminder.importing.rows import read_table
from reminder.mail.i18n import wording

SAMPLE = Path(__file__).parents[2] / "examples" / "agreements-2022.tsv"


def fields_of(message: str) -> dict[str, str]:
    return {name: f"<{name}>" for name in re.findall(r"%\((\w+)\)s", message)}


@pytest.mark.parametrize("message", data_warnings.MESSAGES)
def test_each_warning_reads_back_in_turkish_with_its_fields(message: str) -> None:
    fields = fields_of(message)
    line = data_warnings.warning(message, **fields)
    turkish = wording("tr").data_warning(line)
    assert turkish != line
    assert all(value in turkish for value in fields.values())
    assert ENGLISH.data_warning(line) == line


def test_a_warning_that_extends_another_is_read_as_the_longer_one() -> None:
    line = data_warnings.warning(
        data_warnings.CONCLUDED_PARTIAL_UNTIL, written="xx.01.2018", day="01.01.2018"
    )
    assert wording("tr").data_warning(line).endswith("geçerlilik sonu yaklaşıktır")


def test_every_warning_the_sample_gives_is_one_the_catalog_translates() -> None:
    table = read_table(SAMPLE, term_years=5, default_programme="Mevlana")
    lines = [line for row in table.rows for line in row.warnings]
    assert lines
    turkish = wording("tr")
    assert all(turkish.data_warning(line) != line for line in lines), lines


def test_a_line_no_message_makes_is_shown_as_stored() -> None:
    assert wording("tr").data_warning("checked by hand in 2021") == "checked by hand in 2021"
