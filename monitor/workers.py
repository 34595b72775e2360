"""The parse workers: a process pool that starts on first use and stops when idle.

Feed parsing and extraction are CPU work that a big poll spreads over every core, but an
instance whose feeds answer 304 has nothing for them to do, and each idle worker keeps ~60 MiB
resident (systemd's MemoryMax counts the whole tree). So the pool stops after `idle` without
work and starts again, transparently, with the next item to parse.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class WorkerPool(Executor):
    """An `Executor` over a `ProcessPoolExecutor` that exists only while there is work."""

    def __init__(
        self, workers: int, idle: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.workers = workers
        self.idle = idle
        self.clock = clock
        self._pool: ProcessPoolExecutor | None = None
        self._busy = 0
        self._last_used = clock()
        self._lock = threading.Lock()
        self.starts = 0  # how often the pool was started (tests, logs)

    @property
    def running(self) -> bool:
        return self._pool is not None

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: this process has threads (asyncio, SQLite) by now.
                self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
                self.starts += 1
                log.info("parse workers started workers=%d", self.workers)
            self._busy += 1
            self._last_used = self.clock()
            future = self._pool.submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: Future[Any]) -> None:
        with self._lock:
            self._busy -= 1
            self._last_used = self.clock()

    def stop_if_idle(self) -> bool:
        """Stop the workers when nothing ran for `idle`; True if they were stopped."""
        with self._lock:
            if self._pool is None or self._busy or self.clock() - self._last_used < self.idle:
                return False
            pool, self._pool = self._pool, None
        pool.shutdown(wait=False)
        log.info("parse workers stopped reason=%r", f"idle for {self.idle:g}s")
        return True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)
