"""What a run needs, composed once by the CLI or the service and handed to every step.

`Context` bundles the configuration, the database, the renderer and the hooks a run
calls out through (opening the transport, making attachments, asking whether to stop);
its `router` and `rules` are derived from the configuration on demand. This module
only describes: it must not read the store, render or send, and it imports nothing
from the run modules (planning, delivery, jobs), which all import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reminder.config.schema import Config
from reminder.domain.reminder_digest import ReminderDigest, Router
from reminder.domain.windows import WindowRules
from reminder.mail.mime import Attachment
from reminder.mail.render import Renderer
from reminder.mail.transport import Transport
from reminder.store.database import Database

#: Opens the configured transport; called only when there is something to send.
TransportFactory = Callable[[], Transport]
#: Adds attachments (the calendar) to a reminder digest; empty by default.
AttachmentMaker = Callable[[ReminderDigest], list[Attachment]]


@dataclass(frozen=True)
class Context:
    """What a run needs, composed once by the CLI or the service."""

    config: Config
    database: Database
    renderer: Renderer
    open_transport: TransportFactory
    attachments: AttachmentMaker = field(default=lambda digest: [])
    #: Asked before each message: a service shutting down stops sending between
    #: messages and leaves the rest pending for the next start.
    stop_requested: Callable[[], bool] = field(default=lambda: False)

    @property
    def router(self) -> Router:
        """Return the router for the configured coordinators."""
        return Router(
            self.config.coordinators,
            self.config.reminders.default_recipient,
            self.config.mail.language,
        )

    @property
    def rules(self) -> WindowRules:
        """Return the window rules from [reminders]."""
        r = self.config.reminders
        return WindowRules(r.windows, r.notify_expired, r.expired_lookback_days)
