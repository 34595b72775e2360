"""Hand-written fakes that implement the real plugin interfaces (no mocks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.errors import NotifyError
from monitor.models import Delivery
from monitor.plugins import Notifier


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
