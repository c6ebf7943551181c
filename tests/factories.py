"""Test data shared by the tests: an agreement view to vary field by field."""

from __future__ import annotations

from datetime import date
from typing import Any

from reminder.records import AgreementView, CountryMatch, Lifecycle, Precision, UntilSource

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
