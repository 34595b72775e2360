"""Delivery: hand due deliveries (the outbox) to their notifiers; retry with backoff; dead-letter.

At-least-once: a delivery is marked sent only after its notifier returned, so a crash between
the two repeats the transmission, with the same delivery id for the receiver to drop.
A failing notifier never blocks ingestion or the other notifiers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config import DeliverySettings
from monitor.errors import NotifyError
from monitor.models import Delivery
from monitor.plugins import Notifier
from monitor.store import Store

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # will be retried
    dead: int = 0  # gave up: permanent error or schedule exhausted


def next_attempt(
    attempts: int,
    now: datetime,
    settings: DeliverySettings,
    rng: random.Random,
    retry_after: timedelta | None = None,
) -> datetime | None:
    """When to try again after `attempts` failed attempts; None once the schedule is spent.

    Jitter (± `settings.jitter`) spreads retries of many deliveries that failed together.
    A server's Retry-After is a floor, never shortened by jitter.
    """
    if attempts > len(settings.retry_schedule):
        return None
    base = settings.retry_schedule[attempts - 1].total_seconds()
    delay = base * (1 + rng.uniform(-settings.jitter, settings.jitter))
    if retry_after is not None:
        delay = max(delay, retry_after.total_seconds())
    return now + timedelta(seconds=delay)


class Deliverer:
    """Claims due deliveries from the store and sends each through its notifier."""

    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        settings: DeliverySettings,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.settings = settings
        self.rng = rng or random.Random()
        self._warned_unknown: set[str] = set()

    def deliver_due(self, now: datetime, *, retry_now: bool = False) -> DeliveryReport:
        """Send every delivery due at `now` (`retry_now`: also those waiting for a retry)."""
        report = DeliveryReport()
        # Deliveries that stay due after their turn (notifier missing, zero delay, retry_now):
        # each gets one turn per pass, so a pass always ends.
        had_turn: set[str] = set()
        while True:
            due = self.store.due_deliveries(
                now, include_waiting=retry_now, limit=self.settings.batch_size + len(had_turn)
            )
            batch = [d for d in due if d.id not in had_turn]
            if not batch:
                return report
            for delivery in batch:
                when = self._send_one(delivery, now, report)
                if when is not None and (retry_now or when <= now):
                    had_turn.add(delivery.id)

    def _send_one(
        self, delivery: Delivery, now: datetime, report: DeliveryReport
    ) -> datetime | None:
        """Attempt one delivery; returns when it is due again (None: sent or dead)."""
        notifier = self.notifiers.get(delivery.notifier)
        if notifier is None:
            if delivery.notifier not in self._warned_unknown:
                self._warned_unknown.add(delivery.notifier)
                log.warning(
                    "delivery waiting notifier=%s reason=%r",
                    delivery.notifier, "no such notifier in the config; kept pending",
                )  # fmt: skip
            return delivery.next_attempt_at
        try:
            result = notifier.send([delivery], now)
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
        except NotifyError as e:
            return self._failed(delivery, now, e.reason, e.permanent, e.retry_after, report)
        except Exception as e:
            log.exception(
                "notifier crashed notifier=%s delivery=%s", delivery.notifier, delivery.id
            )
            return self._failed(delivery, now, f"{type(e).__name__}: {e}", False, None, report)
        self.store.mark_sent(delivery.id, now)
        report.sent += 1
        log.info(
            "delivered notifier=%s delivery=%s alert=%s attempt=%d",
            delivery.notifier, delivery.id, delivery.alert.id, delivery.attempts + 1,
        )  # fmt: skip
        return None

    def _failed(
        self,
        delivery: Delivery,
        now: datetime,
        reason: str,
        permanent: bool,
        retry_after: timedelta | None,
        report: DeliveryReport,
    ) -> datetime | None:
        attempts = delivery.attempts + 1
        when = (
            None if permanent else next_attempt(attempts, now, self.settings, self.rng, retry_after)
        )
        self.store.mark_failed(delivery.id, now, reason, when)
        if when is None:
            report.dead += 1
            log.error(
                "delivery dead notifier=%s delivery=%s attempts=%d reason=%r",
                delivery.notifier, delivery.id, attempts, reason,
            )  # fmt: skip
        else:
            report.failed += 1
            log.warning(
                "delivery failed notifier=%s delivery=%s attempt=%d retry_at=%s reason=%r",
                delivery.notifier, delivery.id, attempts,
                when.isoformat(timespec="seconds"), reason,
            )  # fmt: skip
        return when


async def _await(result: object) -> None:
    await result  # type: ignore[misc]
