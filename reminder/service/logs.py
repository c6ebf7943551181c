"""Logging to stderr, one line per event; journald-friendly under systemd.

Under journald ($JOURNAL_STREAM set) lines carry no timestamp (the journal adds
one) and start with a <N> syslog priority prefix so `journalctl -p` can filter.
"""

from __future__ import annotations

import logging
import os
import sys

_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournalFormatter(logging.Formatter):
    """Format records as "<N>logger: message" for journald's stream parser."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line with its syslog priority prefix."""
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        text = super().format(record).replace("\n", " | ")
        return f"<{priority}>{text}"


def under_journald() -> bool:
    """Return True when stderr is connected to the systemd journal."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    if not stream:
        return False
    try:
        device, inode = (int(part) for part in stream.split(":"))
        stat = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return stat.st_dev == device and stat.st_ino == inode


def configure_logging(*, verbose: bool = False, debug: bool = False) -> None:
    """Send our log records to stderr at INFO (DEBUG with --debug; WARNING for libraries)."""
    handler = logging.StreamHandler(sys.stderr)
    if under_journald():
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.getLogger("reminder").setLevel(level)
