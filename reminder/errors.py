"""The few error types the CLI turns into one line each and an exit status.

ReminderError is the root; anything else escaping to the CLI is a bug and gets a
traceback only with --debug.
"""

from __future__ import annotations

from collections.abc import Iterable


class ReminderError(Exception):
    """A problem the user can act on. `problems` holds one line per problem."""

    #: Exit status the CLI uses for this kind of error.
    exit_status = 1

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        super().__init__("\n".join(self.problems))


class ConfigError(ReminderError):
    """The configuration is invalid: every problem, each naming the file and key."""

    exit_status = 2


class InputError(ReminderError):
    """A file or argument the user gave cannot be used: each problem names FILE:LINE."""

    exit_status = 2


class StoreError(ReminderError):
    """The database cannot be reached or is not in a usable state."""

    exit_status = 1


class DeliveryError(ReminderError):
    """A message could not be delivered.

    `permanent` says whether retrying can help: a 5xx reply is permanent, a dropped
    connection or a 4xx reply is not.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class TemplateError(ReminderError):
    """An e-mail template is broken; the message names the template and the line."""

    exit_status = 2


class StoreConflict(StoreError):
    """Another process wrote the same ledger entries first; deciding again resolves it."""
