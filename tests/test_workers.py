"""The parse workers start with the first item to parse and stop when idle."""

from __future__ import annotations

import os

from monitor.workers import WorkerPool


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_workers_start_on_use_stop_when_idle_and_start_again() -> None:
    clock = Clock()
    pool = WorkerPool(1, idle=60, clock=clock)
    try:
        assert not pool.running and not pool.stop_if_idle()
        first = pool.submit(os.getpid).result(timeout=60)
        assert pool.running and first != os.getpid()  # another process
        clock.now = 59
        assert not pool.stop_if_idle()  # not idle long enough
        clock.now = 61
        assert pool.stop_if_idle() and not pool.running
        second = pool.submit(os.getpid).result(timeout=60)
        assert second not in (first, os.getpid()) and pool.starts == 2
    finally:
        pool.shutdown()


def test_busy_workers_are_never_stopped() -> None:
    clock = Clock()
    pool = WorkerPool(1, idle=1, clock=clock)
    try:
        future = pool.submit(pow, 2, 10)
        clock.now = 100
        stopped = pool.stop_if_idle()
        assert future.result(timeout=60) == 1024
        assert not stopped or future.done()
    finally:
        pool.shutdown()
