"""systemd's notification protocol: one datagram of "KEY=value" lines to $NOTIFY_SOCKET.

Outside systemd (no $NOTIFY_SOCKET) every call does nothing, so the service runs the
same from a terminal. A name starting with "@" is an abstract socket (Linux).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def notify(*assignments: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `assignments` ("READY=1", "STATUS=...") to the service manager.

    Returns True when a datagram was sent, False when there is no $NOTIFY_SOCKET.
    The send never waits: a manager that stops reading would otherwise freeze the
    caller's event loop once the socket's queue is full. A send that fails is logged,
    not raised: losing a status line must not stop the service (the watchdog tells
    when the manager really cannot be reached).
    """
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    payload = "\n".join(assignments).encode("utf-8")
    try:
        with socket.socket(
            socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        ) as sock:
            sock.connect(address)
            sock.send(payload)
    except OSError as error:
        log.warning("cannot notify the service manager at $NOTIFY_SOCKET: %s", error)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Return how often to send WATCHDOG=1, in seconds: half of $WATCHDOG_USEC.

    Returns None when no watchdog is asked for, or when $WATCHDOG_PID names another
    process (the variables were inherited, not meant for us).
    """
    env = os.environ if environ is None else environ
    try:
        microseconds = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if microseconds <= 0 or (owner and owner != str(os.getpid())):
        return None
    return microseconds / 2_000_000


def reloading() -> tuple[str, str]:
    """Return the assignments announcing a reload: RELOADING=1 and MONOTONIC_USEC.

    systemd 253 and later match the reload to the READY=1 that follows by the
    CLOCK_MONOTONIC timestamp; older versions ignore the extra line.
    """
    now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return "RELOADING=1", f"MONOTONIC_USEC={now_usec}"
