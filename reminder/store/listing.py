"""The agreements listing: stored agreements with their status on a given day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from reminder import store
from reminder.domain.dates import days_left, format_partial
from reminder.domain.records import AgreementView, Lifecycle
from reminder.domain.windows import Status, status_of
from reminder.store.database import Database


@dataclass(frozen=True, slots=True)
class Listed:
    """One agreement as listed on `as_of`."""

    agreement: AgreementView
    days_left: int
    status: Status

    def as_json(self) -> dict[str, Any]:
        """Return the JSON object `reminder agreements --json` prints for this agreement."""
        a = self.agreement
        return {
            "id": a.id,
            "partner": a.partner,
            "country": a.country,
            "country_code": a.country_code,
            "country_match": str(a.country_match),
            "programme": a.programme,
            "concluded": a.concluded.isoformat(),
            "concluded_precision": str(a.concluded_precision),
            "effective_until": a.effective_until.isoformat(),
            "effective_until_source": str(a.effective_until_source),
            "approximate": a.approximate,
            "days_left": self.days_left,
            "status": str(self.status),
            "lifecycle": str(a.lifecycle),
            "coordinator_email": a.coordinator_email,
            "notes": a.notes,
            "warnings": list(a.data_warnings),
            "retired_reason": a.retired_reason,
            "snoozed_until": a.snoozed_until.isoformat() if a.snoozed_until else None,
        }

    @property
    def concluded_text(self) -> str:
        """Return the conclusion date as precise as it is known ("xx.01.2018" style)."""
        return format_partial(self.agreement.concluded, self.agreement.concluded_precision)


def list_agreements(
    database: Database, *, as_of: date, status: Status | None, windows: tuple[int, ...]
) -> Iterator[Listed]:
    """Yield the agreements with `status` on `as_of` (all when None), by effective-until.

    The status filter is turned into a lifecycle and date range, so listing what is
    expiring reads only those rows.
    """
    lifecycles: set[Lifecycle] | None = None
    until_from = until_to = None
    horizon = as_of + timedelta(days=max(windows))
    if status in (Status.ACTIVE, Status.EXPIRING, Status.EXPIRED):
        lifecycles = {Lifecycle.ACTIVE}
        if status is Status.EXPIRING:
            until_from, until_to = as_of, horizon
        elif status is Status.EXPIRED:
            until_to = as_of - timedelta(days=1)
        else:
            until_from = horizon + timedelta(days=1)
    elif status is Status.SUPERSEDED:
        lifecycles = {Lifecycle.SUPERSEDED}
    elif status is Status.RETIRED:
        lifecycles = {Lifecycle.RETIRED}
    with database.session(read_only=True) as session:
        views = store.iter_agreement_views(
            session, lifecycles=lifecycles, until_from=until_from, until_to=until_to
        )
        for view in views:
            yield Listed(
                view, days_left(view.effective_until, as_of), status_of(view, as_of, windows)
            )
