"""An SMTP sink in a process of its own: accepts every message in clear and counts them.

    python -m bench.sink     # prints "port N", then "received M" when terminated

aiosmtpd on 127.0.0.1 and a port the system picks; nothing is kept but the count, so
the sink costs the same for our run and for the raw aiosmtplib floor.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class _Counter:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages += 1
        return "250 2.0.0 OK"


async def _serve() -> int:
    counter = _Counter()
    loop = asyncio.get_running_loop()

    def session(*_: Any) -> SMTP:
        return SMTP(counter, hostname="sink.invalid", data_size_limit=None)

    server = await loop.create_server(session, host="127.0.0.1", port=0)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    stopped = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopped.set)
    await stopped.wait()
    server.close()
    print(f"received {counter.messages}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_serve()))
