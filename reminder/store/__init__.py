"""Queries and writes on the database; every function takes the caller's Session.

- `agreements`: importing validated rows, supersession, agreement history.
- `views`: agreements read as plain AgreementView values, streamed.
- `ledger`: reminders decided, the messages that carry them, their delivery, job runs.

Time is passed in (`now`), never read from the clock. This package, `models` and `db`
are the only places that import SQLAlchemy.
"""

from reminder.store.agreements import (
    ImportOutcome,
    SupersessionChanges,
    agreement_history,
    apply_import,
    count_agreements,
    get_agreement,
    iter_agreements,
    resupersede,
)
from reminder.store.ledger import (
    Attempt,
    AttemptOutcome,
    ClaimedMessage,
    LedgerKey,
    OutboxEntry,
    PlannedMessage,
    claim_message,
    existing_dedup_keys,
    finish_job_run,
    message_counts,
    outbox_entries,
    ready_message_ids,
    record_attempt,
    record_plan,
    recorded_windows,
    requeue_failed,
    retry_delay,
    start_job_run,
)
from reminder.store.views import (
    EventView,
    changes_since,
    get_agreement_view,
    iter_agreement_views,
)

__all__ = [
    "Attempt",
    "AttemptOutcome",
    "ClaimedMessage",
    "EventView",
    "ImportOutcome",
    "LedgerKey",
    "OutboxEntry",
    "PlannedMessage",
    "SupersessionChanges",
    "agreement_history",
    "apply_import",
    "changes_since",
    "claim_message",
    "count_agreements",
    "existing_dedup_keys",
    "finish_job_run",
    "get_agreement",
    "get_agreement_view",
    "iter_agreement_views",
    "iter_agreements",
    "message_counts",
    "outbox_entries",
    "ready_message_ids",
    "record_attempt",
    "record_plan",
    "recorded_windows",
    "requeue_failed",
    "resupersede",
    "retry_delay",
    "start_job_run",
]
