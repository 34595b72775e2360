"""uvicorn inside the daemon's event loop, with uvicorn's own signal handling off: SIGTERM and
SIGHUP stay the daemon's (its shutdown drain, its reload, sd_notify).

The socket is bound here, before uvicorn starts, so an address in use is an `OSError` the
daemon reports, not uvicorn's `sys.exit` inside a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from monitor.config import watchlist_unwritable
from monitor.web.context import Web
from monitor.web.routes import build_asgi

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 3.0  # s for open requests once the daemon stops


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The daemon owns the signals: uvicorn installs no handler of its own."""
        yield


class WebServer:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.task: asyncio.Task[None] | None = None
        self.server: _Server | None = None

    async def start(self) -> None:
        web = self.web
        family = socket.AF_INET6 if ":" in web.host else socket.AF_INET
        sock = socket.create_server((web.host, web.port), family=family, reuse_port=False)
        sock.setblocking(False)
        config = uvicorn.Config(
            build_asgi(web), lifespan="off", access_log=False, server_header=False,
            date_header=True, log_config=None, log_level="warning", proxy_headers=False,
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE), h11_max_incomplete_event_size=16384,
            http="h11", ws="none",
        )  # fmt: skip
        self.server = _Server(config)
        self.task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raises what stopped it
                raise OSError("the web server stopped while starting")
            await asyncio.sleep(0.01)
        log.info(
            "http listening address=%s:%d mode=%s%s", web.host, web.port, web.mode,
            " paths=/healthz,/metrics only: set [http] token to serve the page and API on a "
            "non-loopback address" if web.mode == "closed" else "",
        )  # fmt: skip
        if web.settings.http.allow_edit:
            # Found now, not at the first save: `monitor check` may have run as another user.
            problem = await web.run(watchlist_unwritable, web.settings.watchlist_path)
            if problem is not None:
                log.error("http editor cannot save watchlist=%s reason=%r (README, \"Watchlist "
                          "editor\", has the systemd drop-in)", web.settings.watchlist_path,
                          problem)  # fmt: skip

    def stop(self) -> None:
        """Stop accepting at once; open requests get SHUTDOWN_GRACE (`wait`)."""
        if self.server is not None:
            self.server.should_exit = True

    async def wait(self) -> None:
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
