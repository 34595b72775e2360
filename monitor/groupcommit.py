"""Group commit: the writes of polls that finish while the database is busy go in one
transaction, so the cost of a commit (and of waiting for SQLite's write lock) is paid once
per batch instead of once per poll.

There is no timer: a write that arrives while the writer is idle starts a batch of one at
once (a watched folder's drop-to-alert latency gains nothing); writes that arrive while a
batch is being written form the next batch. A batch is written in a worker thread inside
`Store.batch()`: its reads see its earlier writes, and it commits whole or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor.errors import StoreError
from monitor.store import Store

log = logging.getLogger(__name__)

MAX_BATCH = 200  # writes per transaction: bounds how long SQLite's write lock is held
# A fail point for the crash test (tests/hostile/test_crash.py): SIGKILL this process just
# before the Nth write (N ≥ 1, counted from 0) of a batch, i.e. in the middle of a batch.
_KILL_BEFORE_WRITE = int(os.environ.get("MONITOR_FAILPOINT_KILL_IN_BATCH", "0"))


@dataclass
class _Write:
    work: Callable[[], Any]
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    """Runs write callables (plain functions making store calls) in shared transactions."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Write] | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (for benchmarks and tests)
        self.writes = 0

    async def write(self, work: Callable[[], Any]) -> Any:
        """Run `work` in the next batch; returns its result or raises its exception (a
        `StoreError` fails every write of the batch: none of it was committed)."""
        queue = self._running_queue()
        item = _Write(work)
        queue.put_nowait(item)
        return await item.done

    def _running_queue(self) -> asyncio.Queue[_Write]:
        # One writer per event loop (`run --once` runs a loop per call).
        if (
            self._task is None
            or self._task.done()
            or self._task.get_loop() is not (asyncio.get_running_loop())
        ):
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue))
        assert self._queue is not None
        return self._queue

    async def _run(self, queue: asyncio.Queue[_Write]) -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < self.max_batch:
                batch.append(queue.get_nowait())
            try:
                results = await asyncio.to_thread(self._write_batch, batch)
            except StoreError as e:
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(e)
                continue
            except asyncio.CancelledError:
                for item in batch:
                    item.done.cancel()
                raise
            for item, (ok, value) in zip(batch, results, strict=True):
                if item.done.done():
                    continue
                if ok:
                    item.done.set_result(value)
                else:
                    item.done.set_exception(value)

    def _write_batch(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        with self.store.batch():
            for index, item in enumerate(batch):
                if _KILL_BEFORE_WRITE and index == _KILL_BEFORE_WRITE:
                    os.kill(os.getpid(), signal.SIGKILL)
                try:
                    results.append((True, item.work()))
                except StoreError:
                    raise  # the transaction is unusable: roll back the whole batch
                except Exception as e:  # one write's bug stays its own (its poll fails)
                    results.append((False, e))
        self.batches += 1
        self.writes += len(batch)
        return results
