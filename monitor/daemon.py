"""The long-running process: poll each folder on its interval, deliver what is due, stop cleanly.

Signal handlers only set a flag; the loop notices it between steps, so a poll or a send is
never cut in half. (The APScheduler-driven scheduler arrives with feed polling.)
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

from monitor.app import App
from monitor.errors import SourceError

log = logging.getLogger(__name__)

DELIVERY_TICK = 1.0  # seconds between looks at the outbox


class Daemon:
    def __init__(self, app: App) -> None:
        self.app = app
        self.stopping = threading.Event()

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        log.info("stopping signal=%s", signal.Signals(signum).name)
        self.stopping.set()

    def run(self) -> int:
        """Run until SIGINT or SIGTERM; returns the exit status."""
        previous = {
            sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.app.start()
            log.info(
                "started folders=%d notifiers=%d topics=%d",
                len(self.app.folders), len(self.app.deliverer.notifiers),
                len(self.app.settings.watchlist.topics),
            )  # fmt: skip
            next_poll = {folder.id: 0.0 for folder in self.app.folders}
            while not self.stopping.is_set():
                for folder in self.app.folders:
                    if self.stopping.is_set() or time.monotonic() < next_poll[folder.id]:
                        continue
                    try:
                        self.app.poll(folder)
                    except SourceError as e:
                        log.error("poll failed source=%s reason=%r", folder.id, e.reason)
                    next_poll[folder.id] = time.monotonic() + folder.interval.total_seconds()
                if not self.stopping.is_set():
                    self.app.deliver()
                self.stopping.wait(DELIVERY_TICK)
            log.info("stopped")
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.app.close()
