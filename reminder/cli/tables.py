"""Plain-text tables for the terminal."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from reminder.store.listing import Listed


def agreements_table(listed: Iterable[Listed], *, as_of: date) -> Iterator[str]:
    """Yield the lines of a readable agreements table, then a one-line total.

    Approximate effective-until dates carry a "~"; the partner column is cut to fit the
    terminal width.
    """
    width = shutil.get_terminal_size((120, 24)).columns
    partner_width = max(20, min(60, width - 72))
    header = (
        f"{'ID':>5}  {'PARTNER':<{partner_width}}  {'CC':<2}  {'PROGRAMME':<10}  "
        f"{'CONCLUDED':<10}  {'UNTIL':<11}  {'DAYS':>5}  STATUS"
    )
    yield header
    count = 0
    for item in listed:
        count += 1
        a = item.agreement
        partner = (
            a.partner if len(a.partner) <= partner_width else a.partner[: partner_width - 1] + "…"
        )
        until = a.effective_until.isoformat() + ("~" if a.approximate else " ")
        yield (
            f"{a.id:>5}  {partner:<{partner_width}}  {a.country_code or '??':<2}  "
            f"{a.programme[:10]:<10}  {item.concluded_text:<10}  {until:<11}  "
            f"{item.days_left:>5}  {item.status}{_remark(item)}"
        )
    yield f"{count} agreement(s) as of {as_of.isoformat()}; ~ marks an approximate date"


def _remark(item: Listed) -> str:
    """Return what follows the status: why it was retired, or until when it is snoozed."""
    a = item.agreement
    if a.retired_reason:
        return f" ({a.retired_reason})"
    as_of = a.effective_until - timedelta(days=item.days_left)
    if a.snoozed_until is not None and a.snoozed_until > as_of:
        return f" (snoozed until {a.snoozed_until.isoformat()})"
    return ""
