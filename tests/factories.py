"""Test data shared by the tests: an agreement view and a table row to vary field by field."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from reminder.domain.records import (
    AgreementInput,
    AgreementView,
    CountryMatch,
    Lifecycle,
    Precision,
    UntilSource,
)
from reminder.importing.rows import normalize_key

#: The agreement every test starts from: exactly dated, active, routed by its country.
PLAIN = AgreementView(
    id=1,
    partner="Baku State University",
    country="Azerbaijan",
    country_code="AZ",
    country_match=CountryMatch.EXACT,
    programme="Erasmus+ KA171",
    notes="",
    concluded=date(2019, 3, 11),
    concluded_precision=Precision.DAY,
    effective_until=date(2024, 3, 11),
    effective_until_source=UntilSource.GIVEN,
    approximate=False,
    lifecycle=Lifecycle.ACTIVE,
    coordinator_email=None,
)


def agreement_view(agreement_id: int = 1, **changes: Any) -> AgreementView:
    """Return PLAIN with id `agreement_id` and `changes` (field=value) applied."""
    return PLAIN._replace(id=agreement_id, **changes)


#: The table row every import test starts from: a Georgian partner in Mevlana, exactly
#: dated, line 2 of agreements.tsv.
ROW = AgreementInput(
    partner="Tbilisi State University",
    partner_key=normalize_key("Tbilisi State University"),
    country="Georgia",
    country_code="GE",
    country_match=CountryMatch.EXACT,
    programme="Mevlana",
    programme_key="mevlana",
    notes="",
    concluded=date(2017, 1, 10),
    concluded_precision=Precision.DAY,
    effective_until=date(2022, 1, 10),
    effective_until_source=UntilSource.GIVEN,
    approximate=False,
    coordinator_email=None,
    source_file="agreements.tsv",
    source_line=2,
)


def agreement_input(partner: str, **changes: Any) -> AgreementInput:
    """Return ROW for `partner` with `changes` (field=value) applied; the keys of the
    partner and of a changed programme are made as the importer makes them, unless
    `changes` gives them."""
    keys = {"partner_key": normalize_key(partner)}
    if "programme" in changes:
        keys["programme_key"] = normalize_key(changes["programme"])
    return replace(ROW, **{"partner": partner, **keys, **changes})
