"""The outbox transport: each message written as an .eml file into a folder.

For trying out and for previews: nothing leaves the machine, and every recipient counts
as accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from pathlib import Path

from reminder.errors import DeliveryError
from reminder.mail.files import write_private_file
from reminder.mail.transport import DeliveryResult, Envelope, Transport

logger = logging.getLogger(__name__)

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._@+=-]")
_LONGEST_NAME = 150


def outbox_file_name(message_id: str) -> str:
    """Return the file name for `message_id`: the bare id, made filesystem-safe, + ".eml".

    The name depends on the Message-ID alone, so writing the same message again replaces
    its file instead of adding a second one. An id that had to be changed (characters
    replaced, a leading dot, too long) also gets a hash of the original, so two
    different ids never share a file.

    Raises ValueError for an empty Message-ID.
    """
    bare = message_id.strip().removeprefix("<").removesuffix(">")
    if not bare:
        raise ValueError("a message without a Message-ID cannot go to the outbox")
    name = _UNSAFE_IN_FILE_NAME.sub("_", bare)
    if name != bare or name.startswith(".") or len(name) > _LONGEST_NAME:
        digest = hashlib.sha256(bare.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        name = f"{name.lstrip('.')[:_LONGEST_NAME]}-{digest}"
    return f"{name}.eml"


def write_outbox_file(folder: Path, raw: bytes, message_id: str) -> Path:
    """Write `raw` as `folder`/outbox_file_name(message_id), whole and owner-only (see
    reminder.mail.files); return the path.

    Raises OSError when the folder cannot be created or written.
    """
    return write_private_file(folder / outbox_file_name(message_id), raw)


class OutboxTransport(Transport):
    """Writes each message as an .eml file into a folder, for trying out and previews."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, raw: bytes, envelope: Envelope, message_id: str) -> DeliveryResult:
        """Write the message; every recipient counts as accepted.

        Returns a temporary failure when the folder cannot be written.
        """
        try:
            path = await asyncio.to_thread(write_outbox_file, self.folder, raw, message_id)
        except OSError as exc:
            error = DeliveryError(
                f"cannot write to the outbox folder {self.folder}: {exc.strerror or exc}",
                permanent=False,
            )
            logger.error("%s not written: %s", message_id, error)
            return DeliveryResult.failure(error)
        logger.info("wrote %s for %s to %s", message_id, ", ".join(envelope.recipients), path)
        return DeliveryResult(accepted=envelope.recipients)

    async def close(self) -> None:
        """Nothing to close."""
