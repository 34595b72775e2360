"""Delivery: hand due deliveries (the outbox) to their notifiers; retry with backoff; dead-letter.

At-least-once: a delivery is marked sent only after its notifier returned, so a crash between
the two repeats the transmission, with the same delivery id for the receiver to drop.
A failing notifier never blocks ingestion or the other notifiers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.config import DeliverySettings
from monitor.errors import NotifyError
from monitor.leases import dead_local_owners
from monitor.metrics import Metrics
from monitor.models import Delivery
from monitor.plugins import Notifier
from monitor.store import Store

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # will be retried
    dead: int = 0  # gave up: permanent error or schedule exhausted

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead


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


def period_end(moment: datetime, period: timedelta) -> datetime:
    """The first digest boundary at or after `moment`; boundaries count from the Unix epoch
    (so a "1d" digest goes out at midnight UTC and "1h" on the hour)."""
    step = period.total_seconds()
    seconds = moment.timestamp()
    return datetime.fromtimestamp(math.ceil(seconds / step) * step, UTC)


class Deliverer:
    """Claims due deliveries from the store and sends each through its notifier.

    A digest notifier (`digests[name]` = its period) gets its fresh deliveries held until the
    end of their period, then all that are due in ONE `send` call; each row is still tracked
    on its own. A notifier disabled in the store (its destination is gone) is skipped and its
    deliveries stay pending until `monitor notifiers enable`.
    """

    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        settings: DeliverySettings,
        rng: random.Random | None = None,
        digests: Mapping[str, timedelta] | None = None,
        owner: str = "monitor",
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.owner = owner
        self.notifiers = dict(notifiers)
        self.settings = settings
        self.rng = rng or random.Random()
        self.digests = dict(digests or {})
        self._warned_unknown: set[str] = set()
        self._warned_disabled: set[str] = set()
        # A reload swaps the notifiers while a pass (in a worker thread) may still be sending
        # through the old ones: those are closed when the last pass using them ends.
        self._passes = 0
        self._retired: list[Notifier] = []
        self._passes_lock = threading.Lock()

    def replace_notifiers(
        self, notifiers: Mapping[str, Notifier], digests: Mapping[str, timedelta]
    ) -> None:
        """Swap in a reload's notifiers; the old ones are closed once no pass uses them."""
        with self._passes_lock:
            kept = {id(n) for n in notifiers.values()}
            self._retired += [n for n in self.notifiers.values() if id(n) not in kept]
            self.notifiers = dict(notifiers)
            self.digests = dict(digests)
            retired = self._take_retired()
        _close_all(retired)

    def _take_retired(self) -> list[Notifier]:
        if self._passes:
            return []
        retired, self._retired = self._retired, []
        return retired

    def close(self) -> None:
        """Close every notifier, current and retired (shutdown)."""
        with self._passes_lock:
            notifiers = [*self._retired, *self.notifiers.values()]
            self._retired = []
        _close_all(notifiers)

    def deliver_due(self, now: datetime, *, retry_now: bool = False) -> DeliveryReport:
        """Send every delivery due at `now` (`retry_now`: also those waiting for a retry)."""
        with self._passes_lock:
            self._passes += 1
        try:
            return self._deliver_due(now, retry_now=retry_now)
        finally:
            with self._passes_lock:
                self._passes -= 1
                retired = self._take_retired()
            _close_all(retired)

    def _deliver_due(self, now: datetime, *, retry_now: bool) -> DeliveryReport:
        report = DeliveryReport()
        # Deliveries that stay due after their turn (notifier missing, zero delay, retry_now):
        # each gets one turn per pass, so a pass always ends.
        had_turn: set[str] = set()
        dead = dead_local_owners(self.store.lease_owners(now))
        while True:
            disabled = self._disabled()
            due = self.store.due_deliveries(
                now,
                include_waiting=retry_now,
                limit=self.settings.batch_size + len(had_turn),
                exclude_notifiers=disabled,
                owner=self.owner,
                dead_owners=dead,
            )
            batch = [d for d in due if d.id not in had_turn]
            if not batch:
                # Those kept back (digest wait, unknown or disabled notifier) are free again.
                self.store.release(had_turn, self.owner)
                return report
            groups: dict[str, list[Delivery]] = {}  # digests
            batched: dict[str, list[Delivery]] = {}  # local sinks: one call for the batch
            for delivery in batch:
                if delivery.notifier in self._warned_disabled:  # disabled during this batch
                    had_turn.add(delivery.id)
                    continue
                # Operator notices go out alone and at once, never inside a digest.
                digest = delivery.notifier in self.digests and delivery.notice is None
                if digest and delivery.notifier in self.notifiers:
                    groups.setdefault(delivery.notifier, []).append(delivery)
                    continue
                notifier = self.notifiers.get(delivery.notifier)
                if notifier is not None and notifier.batch_sends:
                    batched.setdefault(delivery.notifier, []).append(delivery)
                    continue
                when = self._send([delivery], now, report)
                if when is not None and (retry_now or when <= now):
                    had_turn.add(delivery.id)
            for members in batched.values():
                when = self._send(members, now, report)
                if when is not None and (retry_now or when <= now):
                    had_turn.update(d.id for d in members)
            for name, members in groups.items():
                ready = self._hold_for_digest(name, members, now, retry_now)
                ready_ids = {d.id for d in ready}
                had_turn.update(d.id for d in members if d.id not in ready_ids)
                if ready:
                    when = self._send(ready, now, report)
                    if when is not None and (retry_now or when <= now):
                        had_turn.update(d.id for d in ready)

    def _disabled(self) -> list[str]:
        disabled = self.store.disabled_notifiers()
        for name, state in disabled.items():
            if name not in self._warned_disabled:
                self._warned_disabled.add(name)
                log.warning(
                    "notifier disabled, deliveries kept pending notifier=%s since=%s "
                    "reason=%r hint=%r",
                    name, state.disabled_at.isoformat(timespec="seconds"), state.reason,
                    f"monitor notifiers enable {name}",
                )  # fmt: skip
        self._warned_disabled &= set(disabled)
        return sorted(disabled)

    def _hold_for_digest(
        self, name: str, members: list[Delivery], now: datetime, retry_now: bool
    ) -> list[Delivery]:
        """Postpone fresh deliveries to the end of their period; return those to send now."""
        period = self.digests[name]
        ready, held = [], []
        for delivery in members:
            end = period_end(delivery.next_attempt_at, period)
            if retry_now or delivery.attempts > 0 or end <= now:
                ready.append(delivery)
            else:
                held.append((delivery, end))
        for end in sorted({end for _, end in held}):
            self.store.postpone([d.id for d, e in held if e == end], end, now)
        return ready

    def _send(
        self, deliveries: list[Delivery], now: datetime, report: DeliveryReport
    ) -> datetime | None:
        """One `send` call for these deliveries (one, or a digest of one notifier's);
        returns when they are due again (None: sent or dead)."""
        name = deliveries[0].notifier
        notifier = self.notifiers.get(name)
        if notifier is None:
            if name not in self._warned_unknown:
                self._warned_unknown.add(name)
                log.warning(
                    "delivery waiting notifier=%s reason=%r",
                    name, "no such notifier in the config; kept pending",
                )  # fmt: skip
            return deliveries[0].next_attempt_at
        try:
            result = notifier.send(deliveries, now)
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
        except NotifyError as e:
            if e.disable:
                return self._disable(deliveries, now, e.reason, report)
            return self._failed(deliveries, now, e.reason, e.permanent, e.retry_after, report)
        except Exception as e:
            log.exception("notifier crashed notifier=%s delivery=%s", name, deliveries[0].id)
            return self._failed(deliveries, now, f"{type(e).__name__}: {e}", False, None, report)
        self.store.mark_sent_many([d.id for d in deliveries], now)
        for delivery in deliveries:
            report.sent += 1
            self.metrics.delivered(name, delivery.alert.created_at, now)
            log.info(
                "delivered notifier=%s delivery=%s alert=%s attempt=%d",
                name, delivery.id, delivery.alert.id, delivery.attempts + 1,
            )  # fmt: skip
        return None

    def _disable(
        self, deliveries: list[Delivery], now: datetime, reason: str, report: DeliveryReport
    ) -> datetime:
        """The destination is gone: stop the notifier, keep its deliveries pending (WH-5)."""
        name = deliveries[0].notifier
        self.store.disable_notifier(name, now, reason)
        self._warned_disabled.add(name)
        for delivery in deliveries:
            self.store.mark_failed(delivery.id, now, reason, now)
            report.failed += 1
            self.metrics.delivery(name, "failed")
        log.error(
            "notifier disabled notifier=%s delivery=%s reason=%r hint=%r",
            name, deliveries[0].id, reason, f"monitor notifiers enable {name}",
        )  # fmt: skip
        return now

    def _failed(
        self,
        deliveries: list[Delivery],
        now: datetime,
        reason: str,
        permanent: bool,
        retry_after: timedelta | None,
        report: DeliveryReport,
    ) -> datetime | None:
        # One jitter draw per send: the members of a digest stay together for the retry.
        seed = self.rng.random()
        latest: datetime | None = None
        for delivery in deliveries:
            attempts = delivery.attempts + 1
            when = (
                None
                if permanent
                else next_attempt(attempts, now, self.settings, random.Random(seed), retry_after)
            )
            self.store.mark_failed(delivery.id, now, reason, when)
            self.metrics.delivery(delivery.notifier, "dead" if when is None else "failed")
            if when is None:
                report.dead += 1
                log.error(
                    "delivery dead notifier=%s delivery=%s attempts=%d reason=%r",
                    delivery.notifier, delivery.id, attempts, reason,
                )  # fmt: skip
            else:
                report.failed += 1
                latest = when if latest is None else max(latest, when)
                log.warning(
                    "delivery failed notifier=%s delivery=%s attempt=%d retry_at=%s reason=%r",
                    delivery.notifier, delivery.id, attempts,
                    when.isoformat(timespec="seconds"), reason,
                )  # fmt: skip
        return latest


async def _await(result: object) -> None:
    await result  # type: ignore[misc]


def _close_all(notifiers: Sequence[Notifier]) -> None:
    for notifier in notifiers:
        try:
            notifier.close()
        except Exception as e:  # a per-notifier call: one failing close never stops the rest
            log.warning("notifier close failed notifier=%s reason=%r", notifier.name, str(e))
