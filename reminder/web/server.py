"""Serve the web app with uvicorn inside the running event loop.

`reminder serve` runs the scheduler in the same loop, so uvicorn's own `run()` (which
owns the loop and the signals) is not used: the socket is bound here (a busy port is
one line naming web.listen), then uvicorn's server is started on it, and stopped when
the service stops. Signals stay with the caller.

A reload of `reminder serve` hands the new configuration to `WebServer.reload`: the
pages follow it from their next request, except [web] itself, which the socket and the
middleware took at start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import uvicorn

from reminder.config.schema import Config
from reminder.errors import ConfigError
from reminder.store.database import Database
from reminder.web.app import build_app
from reminder.web.secret_key import web_secret_key
from reminder.web.state import Services, WebState

log = logging.getLogger(__name__)


def with_running_web(config: Config, running: Config) -> Config:
    """Return `config` with the [web] table of `running`, logging a warning when the two
    differ: the listening socket, the key and cookie of the sessions and the upload
    limit are set at start, so the pages never mix one [web] with another."""
    if config.web == running.web:
        return config
    log.warning("SIGHUP: [web] changed: restart the service to use it")
    return config.model_copy(update={"web": running.web})


class WebServer:
    """The web page on [web] listen; `start` returns once the socket listens. `app` is
    the application it serves."""

    def __init__(self, config: Config, database: Database, services: Services) -> None:
        self.listen = config.web.listen
        self.app = build_app(config, database, services, secret_key=web_secret_key(config))
        self._config = uvicorn.Config(
            self.app,
            log_config=None,  # the program's logging stays as configured
            access_log=False,
            proxy_headers=False,  # X-Forwarded-For is judged by the app (trusted_proxies)
            server_header=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(self._config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind the socket and start serving. Raises ConfigError when it cannot listen."""
        host, port = self._config_address()
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.create_server((host, port), family=family, reuse_port=False)
            # Accepted connections inherit this: a response goes out as it is written.
            # asyncio sets it only on sockets it made itself (proto IPPROTO_TCP), and
            # without it a page written in two parts waited for the browser's delayed
            # ACK, 40 ms a request.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as error:
            raise ConfigError(
                f"web.listen: cannot listen on {self.listen}: "
                f"{os.strerror(error.errno) if error.errno else error}"
            ) from None
        self._config.load()
        self._server.lifespan = self._config.lifespan_class(self._config)
        await self._server.startup(sockets=[sock])
        self._task = asyncio.get_running_loop().create_task(
            self._server.main_loop(), name="reminder web"
        )
        log.info("web page listening on %s", self.listen)

    def reload(self, config: Config) -> None:
        """Serve the pages from `config` from their next request on (its coordinators,
        windows, routing, time zone...), keeping the running [web] (with_running_web).

        The new state has the same database, services and clock, and caches of its
        own: the old ones hold what the old configuration wrote (the filters'
        suggestions).
        """
        running: WebState = self.app.state.web
        kept = with_running_web(config, running.config)
        self.app.state.web = WebState(kept, running.database, running.services, running.clock)

    def _config_address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    async def stop(self) -> None:
        """Stop accepting, let the requests under way finish, close the socket."""
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        await self._server.shutdown()
        self._task = None
