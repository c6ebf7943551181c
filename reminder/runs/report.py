"""What one run decided, recorded and delivered: its report and exit status."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from reminder.domain.reminder_digest import DueItem
from reminder.runs.delivery import DeliveryReport, MessageOutcome


@dataclass
class RunReport:
    """What one run decided, recorded and delivered."""

    job: str
    as_of: date
    dry_run: bool = False
    due: int = 0
    skipped: int = 0
    recorded_messages: int = 0
    unrouted: list[DueItem] = field(default_factory=list)
    planned: list[MessageOutcome] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def summary(self) -> str:
        """Return the run's counts on one line, for the job_runs table and logs."""
        d = self.delivery
        return (
            f"{self.due} due, {self.recorded_messages} recorded, {self.skipped} skipped, "
            f"{len(self.unrouted)} unrouted; {d.sent} sent, {d.pending} pending, "
            f"{d.failed} failed, {d.partly_failed} partly failed"
        )

    @property
    def exit_status(self) -> int:
        """Return 0 when everything due went out, else 1 (pending, failed, partly failed,
        claimed by another process, unrouted). A message another process holds a claim
        on has not gone out as far as this run can tell: that process may be sending it,
        or may have died with the claim, which then lapses."""
        d = self.delivery
        undone = d.pending or d.failed or d.partly_failed or d.sending or self.unrouted
        return 1 if undone and not self.dry_run else 0
