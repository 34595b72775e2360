"""Hand-written fakes that implement the real plugin interfaces (no mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor.errors import NotifyError
from monitor.models import Delivery, Outcome, Poll, RawItem
from monitor.plugins import Notifier, Source


class RecordingNotifier(Notifier):
    """Remembers every delivery it was asked to send, with the `now` it got."""

    def __init__(self, name: str = "recorder") -> None:
        super().__init__(name)
        self.sent: list[tuple[Delivery, datetime]] = []

    def send(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        self.sent.extend((d, now) for d in deliveries)


class FailingNotifier(RecordingNotifier):
    """Fails the first `failures` attempts (retryable unless `permanent`), then records."""

    def __init__(
        self,
        name: str = "flaky",
        *,
        failures: int = 1,
        permanent: bool = False,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(name)
        self.failures = failures
        self.permanent = permanent
        self.retry_after = retry_after
        self.attempts = 0

    def send(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise NotifyError(
                self.name, "receiver unavailable", permanent=self.permanent,
                retry_after=self.retry_after,
            )  # fmt: skip
        super().send(deliveries, now)


class FakeSource(Source):
    """Hands out the items queued in `pending` (once each) and records every poll's state;
    `fail_with` makes the next polls FAILED with that reason. Polls are plain `def`, so the
    lifecycle runs them in a worker thread, as it would a third-party source."""

    def __init__(self, id: str = "fake") -> None:
        super().__init__(id)
        self.pending: list[tuple[str, str]] = []  # (location, text)
        self.states: list[Any] = []
        self.fail_with: str | None = None

    def add(self, location: str, text: str) -> None:
        self.pending.append((location, text))

    def poll(self, state: Any, now: datetime) -> Poll:
        self.states.append(state)
        if self.fail_with is not None:
            return Poll((), state, Outcome.FAILED, self.fail_with)
        count = (state or {}).get("count", 0)
        items = tuple(
            RawItem(self.id, location, text.encode(), "text/plain", now)
            for location, text in self.pending
        )
        self.pending = []
        return Poll(items, {"count": count + len(items)})


class AsyncNotifier(Notifier):
    """`send` as `async def`, which the `Notifier` ABC allows: nothing happens unless the
    caller awaits it (it yields to the event loop first). Fails the first `failures` sends
    (retryable unless `permanent`), then records, like `FailingNotifier`."""

    def __init__(self, name: str = "async", *, failures: int = 0, permanent: bool = False) -> None:
        super().__init__(name)
        self.failures = failures
        self.permanent = permanent
        self.attempts = 0
        self.sent: list[tuple[Delivery, datetime]] = []

    async def send(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        await asyncio.sleep(0)
        self.attempts += 1
        if self.attempts <= self.failures:
            raise NotifyError(self.name, "receiver unavailable", permanent=self.permanent)
        self.sent.extend((d, now) for d in deliveries)
