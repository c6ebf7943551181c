"""`reminder web`: the web page alone, until SIGTERM or SIGINT, with sd_notify; SIGHUP
reads the configuration and templates again, as `reminder serve` does."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping

from reminder.config.schema import Config
from reminder.errors import ReminderError
from reminder.service import sdnotify
from reminder.store.database import Database
from reminder.web.server import WebServer
from reminder.web.state import Services

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve_web_alone(
    config: Config,
    database: Database,
    services: Services,
    environ: Mapping[str, str] | None = None,
    *,
    reload: Callable[[], Config] | None = None,
) -> int:
    """Serve the pages until SIGTERM or SIGINT; READY=1 once the socket listens. With
    `reload` (which reads the configuration and templates again and returns the new
    configuration, raising ReminderError when they are bad), SIGHUP applies it to the
    pages from their next request; a refused one changes nothing.

    Returns 0. Raises ConfigError when the socket cannot be bound or the secret key read.
    """
    server = WebServer(config, database, services)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stopping.set)
    status = f"STATUS=serving the web page on {config.web.listen}"
    if reload is not None:
        loop.add_signal_handler(signal.SIGHUP, _reload, server, reload, status, environ)
    sdnotify.notify("READY=1", status, environ=environ)
    try:
        await stopping.wait()
    finally:
        sdnotify.notify("STOPPING=1", environ=environ)
        await server.stop()
        for signum in (*_STOP_SIGNALS, signal.SIGHUP):
            loop.remove_signal_handler(signum)
    log.info("web page stopped")
    return 0


def _reload(
    server: WebServer,
    reload: Callable[[], Config],
    status: str,
    environ: Mapping[str, str] | None,
) -> None:
    """Apply a reload to the pages, or log why it was refused (SIGHUP's handler)."""
    sdnotify.notify(*sdnotify.reloading(), environ=environ)
    try:
        config = reload()
    except ReminderError as error:
        for problem in error.problems:
            log.error("SIGHUP: reload refused, the running configuration stays: %s", problem)
    else:
        running: Config = server.app.state.web.config
        if config.database.url != running.database.url:
            # As `serve` says it: the pages go on with the database they opened.
            log.warning("SIGHUP: database.url changed: restart the service to use the new one")
        server.reload(config)
        log.info("SIGHUP: configuration reloaded from %s", config.source or "(defaults)")
    finally:
        sdnotify.notify("READY=1", status, environ=environ)
