"""`reminder show`: one agreement's record as readable lines or as a JSON object."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from reminder.domain.dates import days_left, format_partial
from reminder.domain.records import AgreementView
from reminder.domain.windows import NOTICE, status_of
from reminder.store.listing import Listed

if TYPE_CHECKING:
    from reminder.config.schema import Config
    from reminder.store import AgreementRecord, SentReminder


def record_json(record: AgreementRecord, config: Config, as_of: date) -> dict[str, Any]:
    """Return the JSON object `reminder show --json` prints for `record` on `as_of`."""
    view = record.agreement
    agreement = _listed(view, config, as_of).as_json()
    agreement["superseded_by_id"] = view.superseded_by_id
    return {
        "as_of": as_of.isoformat(),
        "agreement": agreement,
        "predecessors": [_relative_json(other) for other in record.predecessors],
        "successors": [_relative_json(other) for other in record.successors],
        "reminders": [
            {
                "decided_on": reminder.decided_on.isoformat(),
                "effective_until": reminder.effective_until.isoformat(),
                "window": reminder.window,
                "recipient": reminder.recipient,
                "state": reminder.state,
                "message_id": reminder.message_id,
                "sent_at": _iso(reminder.sent_at),
                "recipients": [
                    {"address": d.address, "state": d.state, "last_error": d.last_error}
                    for d in reminder.deliveries
                ],
            }
            for reminder in record.reminders
        ],
        "history": [
            {
                "at": entry.at.isoformat(),
                "actor": entry.actor,
                "action": entry.action,
                "details": entry.details,
            }
            for entry in record.history
        ],
    }


def record_lines(record: AgreementRecord, config: Config, as_of: date) -> Iterator[str]:
    """Yield `record` as lines for the terminal; times are shown in the configured zone."""
    view = record.agreement
    listed = _listed(view, config, as_of)
    yield f"#{view.id}  {view.partner}"
    country = f"{view.country} ({view.country_code or 'not recognised'})"
    until = view.effective_until.isoformat() + (" (approximate)" if view.approximate else "")
    fields = [
        ("Country", country),
        ("Programme", view.programme),
        ("Concluded", listed.concluded_text),
        ("Effective until", f"{until} ({_days(listed.days_left)}, as of {as_of.isoformat()})"),
        ("Status", str(listed.status)),
    ]
    if view.superseded_by_id is not None:
        fields.append(("Superseded by", f"#{view.superseded_by_id}"))
    if view.retired_reason:
        fields.append(("Retired", view.retired_reason))
    if view.snoozed_until is not None:
        fields.append(("Snoozed until", view.snoozed_until.isoformat()))
    if view.coordinator_email:
        fields.append(("Coordinator", view.coordinator_email))
    if view.notes:
        fields.append(("Notes", " ".join(view.notes.split())))
    fields += [("Data warning", warning) for warning in view.data_warnings]
    for label, value in fields:
        yield f"  {label + ':':<17} {value}"
    for title, relatives in (
        ("Predecessors", record.predecessors),
        ("Successors", record.successors),
    ):
        yield ""
        yield f"{title} ({len(relatives)}):" if relatives else f"{title}: none"
        for other in relatives:
            concluded = format_partial(other.concluded, other.concluded_precision)
            yield (
                f"  #{other.id:<6} concluded {concluded:<10}  "
                f"until {other.effective_until.isoformat()}  {other.lifecycle}"
            )
    yield ""
    yield f"Reminders ({len(record.reminders)}):" if record.reminders else "Reminders: none"
    for reminder in record.reminders:
        yield from _reminder_lines(reminder, config)
    yield ""
    yield f"History ({len(record.history)}):"
    for entry in record.history:
        details = f": {entry.details}" if entry.details else ""
        yield f"  {_local(entry.at, config)}  {entry.actor}  {entry.action}{details}"


def _reminder_lines(reminder: SentReminder, config: Config) -> Iterator[str]:
    window = "expiry notice" if reminder.window == NOTICE else f"{reminder.window}-day reminder"
    head = (
        f"  {reminder.decided_on.isoformat()}  {window:<17} "
        f"until {reminder.effective_until.isoformat()}  to {reminder.recipient}"
    )
    if reminder.state == "skipped":
        yield f"{head}: skipped (window passed unsent)"
        return
    sent = f" {_local(reminder.sent_at, config)}" if reminder.sent_at else ""
    yield f"{head}: {reminder.state}{sent} {reminder.message_id or ''}".rstrip()
    for delivery in reminder.deliveries:
        error = f" ({delivery.last_error})" if delivery.last_error else ""
        yield f"      {delivery.state:<8} {delivery.address}{error}"


def _listed(view: AgreementView, config: Config, as_of: date) -> Listed:
    windows = config.reminders.windows
    return Listed(view, days_left(view.effective_until, as_of), status_of(view, as_of, windows))


def _relative_json(other: AgreementView) -> dict[str, Any]:
    return {
        "id": other.id,
        "concluded": other.concluded.isoformat(),
        "effective_until": other.effective_until.isoformat(),
        "lifecycle": str(other.lifecycle),
    }


def _days(left: int) -> str:
    if left < 0:
        return f"expired {-left} day(s) ago"
    return "its last day" if left == 0 else f"{left} day(s) left"


def _local(moment: datetime, config: Config) -> str:
    return moment.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()
