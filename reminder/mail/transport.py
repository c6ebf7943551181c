"""What a transport is: the Transport protocol, the SMTP envelope and what became of a message.

Every message arrives rendered (RFC 5322 bytes, CRLF line endings) and already recorded
in the ledger; a transport only carries those bytes, unchanged, and reports what became
of them per recipient. The transports are reminder.mail.smtp and reminder.mail.outbox;
reminder.mail.configured opens the one the config names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from reminder.errors import DeliveryError


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope: bare addresses, without display names."""

    sender: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class RecipientRefusal:
    """The server's reply refusing one recipient."""

    code: int
    message: str
    permanent: bool


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one message.

    `accepted` lists the recipients the server took the message for, `refused` the ones
    it refused, with its reply. `error` is set when the message as a whole was not
    delivered (then `accepted` is empty); `refused` may still say why, recipient by
    recipient.
    """

    accepted: tuple[str, ...]
    refused: dict[str, RecipientRefusal] = field(default_factory=dict)
    error: DeliveryError | None = None

    @property
    def delivered(self) -> bool:
        """Return True when the server took the message for every recipient."""
        return self.error is None and not self.refused

    @classmethod
    def failure(cls, error: DeliveryError) -> DeliveryResult:
        """Return the result of a message that reached no recipient."""
        return cls(accepted=(), error=error)


class Transport(Protocol):
    """Delivers messages; `async with` closes it at the end."""

    async def send(self, raw: bytes, envelope: Envelope, message_id: str) -> DeliveryResult:
        """Deliver `raw` to `envelope.recipients`; failures are returned, not raised."""
        ...

    async def close(self) -> None:
        """End the connection, if any. A later send opens a new one."""
        ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
