"""`reminder web`: the web page alone, until SIGTERM or SIGINT, with sd_notify."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping

from reminder.config.schema import Config
from reminder.service import sdnotify
from reminder.store.database import Database
from reminder.web.server import WebServer
from reminder.web.state import Services

log = logging.getLogger(__name__)


async def serve_web_alone(
    config: Config,
    database: Database,
    services: Services,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Serve the pages until SIGTERM or SIGINT; READY=1 once the socket listens.

    Returns 0. Raises ConfigError when the socket cannot be bound or the secret key read.
    """
    server = WebServer(config, database, services)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    sdnotify.notify(
        "READY=1", f"STATUS=serving the web page on {config.web.listen}", environ=environ
    )
    try:
        await stopping.wait()
    finally:
        sdnotify.notify("STOPPING=1", environ=environ)
        await server.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("web page stopped")
    return 0
