"""What both runs do with a composed message: its Message-ID, and its preview files."""

from __future__ import annotations

import hashlib
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from reminder.mail.files import write_private_file
from reminder.mail.mime import parse_address
from reminder.store import PlannedMessage


def make_message_id(kind: str, dedup_key: str, sender: str) -> str:
    """Return a Message-ID derived from the ledger key, the same on every attempt."""
    digest = hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()[:32]
    domain = parse_address(sender).domain or "localhost"
    return f"<{kind}.{digest}@{domain}>"


def write_preview_files(folder: Path, stem: str, planned: PlannedMessage) -> list[Path]:
    """Write one composed message as STEM.eml and its HTML part as STEM.html.

    The HTML is taken from the message itself, so the preview is exactly what is sent.
    Both are written like the outbox's files: whole, owner-only, never through a link.
    Returns the two paths. Raises OSError when the folder cannot be written.
    """
    body = message_from_bytes(planned.raw, policy=default).get_body(("html",))
    html = body.get_content() if isinstance(body, EmailMessage) else ""
    return [
        write_private_file(folder / f"{stem}.eml", planned.raw),
        write_private_file(folder / f"{stem}.html", html.encode("utf-8")),
    ]
