"""Queries and writes on the database; every function takes the caller's Session.

- `agreements`: supersession, listing agreements, agreement history.
- `import_writes`: validated rows stored in batches (`import_plan` says what changes,
  `import_identities` keeps the identities met in a temporary table).
- `views`: agreements read as plain AgreementView values, streamed.
- `ledger`: reminders decided, the messages that carry them, their delivery.
- `outbox`: messages waiting or failed, for `outbox` and `status`; requeueing them.
- `renewals`: renew, amend, retire, reinstate, snooze.
- `agreement_record`: an agreement's whole record for `show`; calendar events a change replaced.
- `job_runs`: job runs, service instances and the server lock, for `serve`, `status`, `health`.
- `users`: the web page's users and login attempts (`user_models` holds their tables).

Time is passed in (`now`), never read from the clock. This package (with `models`,
`database` and the migrations) is the only place that imports SQLAlchemy and Alembic.
"""

from reminder.store.agreement_record import (
    AgreementRecord,
    Delivery,
    HistoryEntry,
    SentReminder,
    agreement_record,
    replaced_events,
)
from reminder.store.agreements import (
    SupersessionChanges,
    agreement_history,
    count_agreements,
    get_agreement,
    iter_agreements,
    resupersede,
)
from reminder.store.import_writes import (
    ImportInBatches,
    ImportOutcome,
    apply_import,
    overlong_fields,
)
from reminder.store.job_runs import (
    FailingMessage,
    InstanceView,
    JobRunView,
    ServerLock,
    finish_job_run,
    last_finished_run,
    last_job_run,
    last_successful_run,
    latest_run_day,
    live_instances,
    oldest_failing_message,
    prune_instances,
    prune_job_runs,
    record_heartbeat,
    remove_instance,
    server_lock,
    start_job_run,
)
from reminder.store.ledger import (
    Attempt,
    AttemptOutcome,
    ClaimedMessage,
    LedgerKey,
    PlannedMessage,
    claim_message,
    claim_next_message,
    existing_dedup_keys,
    ready_message_ids,
    record_attempt,
    record_plan,
    retry_delay,
)
from reminder.store.outbox import OutboxEntry, Requeued, message_counts, outbox_entries, requeue
from reminder.store.renewals import (
    Amendment,
    Reinstatement,
    Renewal,
    amend_agreement,
    reinstate_agreement,
    renew_agreement,
    retire_agreement,
    snooze_agreement,
)

# Imported for its tables: Base.metadata holds every table whatever a caller imports.
from reminder.store.user_models import LoginAttempt, WebUser
from reminder.store.views import (
    EventView,
    RecordedWindows,
    changes_since,
    get_agreement_view,
    iter_agreement_views,
    iter_reminder_candidates,
    table_coordinator_emails,
)

__all__ = [
    "AgreementRecord",
    "Amendment",
    "Attempt",
    "AttemptOutcome",
    "ClaimedMessage",
    "Delivery",
    "EventView",
    "FailingMessage",
    "HistoryEntry",
    "ImportInBatches",
    "ImportOutcome",
    "InstanceView",
    "JobRunView",
    "LedgerKey",
    "LoginAttempt",
    "OutboxEntry",
    "PlannedMessage",
    "RecordedWindows",
    "Reinstatement",
    "Renewal",
    "Requeued",
    "SentReminder",
    "ServerLock",
    "SupersessionChanges",
    "WebUser",
    "agreement_history",
    "agreement_record",
    "amend_agreement",
    "apply_import",
    "changes_since",
    "claim_message",
    "claim_next_message",
    "count_agreements",
    "existing_dedup_keys",
    "finish_job_run",
    "get_agreement",
    "get_agreement_view",
    "iter_agreement_views",
    "iter_agreements",
    "iter_reminder_candidates",
    "last_finished_run",
    "last_job_run",
    "last_successful_run",
    "latest_run_day",
    "live_instances",
    "message_counts",
    "oldest_failing_message",
    "outbox_entries",
    "overlong_fields",
    "prune_instances",
    "prune_job_runs",
    "ready_message_ids",
    "record_attempt",
    "record_heartbeat",
    "record_plan",
    "reinstate_agreement",
    "remove_instance",
    "renew_agreement",
    "replaced_events",
    "requeue",
    "resupersede",
    "retire_agreement",
    "retry_delay",
    "server_lock",
    "snooze_agreement",
    "start_job_run",
    "table_coordinator_emails",
]
