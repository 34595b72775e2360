"""Prometheus metrics and the health rule; `monitor.web` serves both (`/metrics`, `/healthz`).

Owns prometheus_client; one `CollectorRegistry` per `Metrics` (never the global one), so two
apps in one process (tests) never share counters. Records what it is told: it imports nothing
of monitor and reads no database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

log = logging.getLogger(__name__)

# Alert created → sent: seconds for a direct notifier, up to days for retries and digests.
LATENCY_BUCKETS = (0.5, 1, 2.5, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400)
# A scheduled poll starts at the first tick after it is due (ticks are a second apart), so
# the buckets are finest around that second; 5 s is the lateness an operator should act on.
LATENESS_BUCKETS = (0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 900)
# Text format 0.0.4: what every Prometheus (2.x and 3.x) scrapes. prometheus_client ≥ 0.22
# labels its output 1.0.0, which differs only for names outside [a-zA-Z0-9_:] (none here),
# and Prometheus 3 refuses a content type it does not know unless told a fallback.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ARTICLE_OUTCOMES = ("new", "updated", "duplicate", "skipped")
DELIVERY_OUTCOMES = ("sent", "failed", "dead")


class Metrics:
    """Every metric monitor exports (README, "Health and metrics", lists them)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter(
            "monitor_polls", "Source polls by source and result (ok, not_modified, failed, "
            "gone; folders: ok, failed)", ["source", "result"], registry=r,
        )  # fmt: skip
        self.fetch_errors = Counter(
            "monitor_fetch_errors", "Feed fetches that failed (network, HTTP status, not a feed)",
            ["source"], registry=r,
        )  # fmt: skip
        self.articles = Counter(
            "monitor_articles", "Items ingested by outcome: new, updated, duplicate, skipped",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.alerts = Counter("monitor_alerts", "Alerts created by topic", ["topic"], registry=r)
        self.near_duplicates = Counter(
            "monitor_near_duplicates", "Alerts not created by topic: the article was a "
            "near-duplicate of a story that had matched the topic", ["topic"], registry=r,
        )  # fmt: skip
        self.deliveries = Counter(
            "monitor_deliveries", "Delivery attempts by notifier and outcome (sent, failed: "
            "retried later, dead: given up)", ["notifier", "outcome"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "monitor_delivery_latency_seconds", "From an alert's creation to its delivery",
            ["notifier"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.lateness = Histogram(
            "monitor_poll_lateness_seconds", "From when a scheduled poll was due to when it "
            "started (a daemon that cannot keep up with its sources falls behind here)",
            buckets=LATENESS_BUCKETS, registry=r,
        )  # fmt: skip
        self.pending = Gauge(
            "monitor_deliveries_pending", "Deliveries waiting to be sent (due or retrying)",
            registry=r,
        )  # fmt: skip
        self.dead = Gauge(
            "monitor_deliveries_dead", "Deliveries given up on, awaiting `monitor alerts retry`",
            registry=r,
        )  # fmt: skip
        self.reload_ok = Gauge(
            "monitor_config_last_reload_successful",
            "1 if the last config reload was applied (or none happened since start), 0 if it "
            "was rejected", registry=r,
        )  # fmt: skip
        self.reload_time = Gauge(
            "monitor_config_last_reload_success_timestamp_seconds",
            "When the running config was loaded (start or last applied reload)", registry=r,
        )  # fmt: skip
        for outcome in ARTICLE_OUTCOMES:  # present at 0 from the start: rate() needs a base
            self.articles.labels(outcome)
        self.reload_ok.set(1)
        self.reload_time.set_to_current_time()

    # --- recording ------------------------------------------------------------------------

    def poll(self, source: str, result: str) -> None:
        self.polls.labels(source, result).inc()

    def poll_started(self, due: datetime, now: datetime) -> None:
        """A scheduled poll began: how late (one histogram for all sources: a label per
        source would be 10,000 series of buckets)."""
        self.lateness.observe(max(0.0, (now - due).total_seconds()))

    def fetch_error(self, source: str) -> None:
        self.fetch_errors.labels(source).inc()

    def article(self, outcome: str, count: int = 1) -> None:
        if count:
            self.articles.labels(outcome).inc(count)

    def alert(self, topic: str) -> None:
        self.alerts.labels(topic).inc()

    def near_duplicate(self, topic: str) -> None:
        self.near_duplicates.labels(topic).inc()

    def delivery(self, notifier: str, outcome: str) -> None:
        self.deliveries.labels(notifier, outcome).inc()

    def delivered(self, notifier: str, created_at: datetime, now: datetime) -> None:
        """One delivery sent: counted, and its latency from the alert's creation observed."""
        self.delivery(notifier, "sent")
        self.latency.labels(notifier).observe(max(0.0, (now - created_at).total_seconds()))

    def queue(self, pending: int, dead: int) -> None:
        self.pending.set(pending)
        self.dead.set(dead)

    def reloaded(self, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set_to_current_time()

    def render(self) -> bytes:
        """The Prometheus text exposition format."""
        return generate_latest(self.registry)


class Health:
    """Healthy = the scheduler ticked within the last 3 ticks AND a database ping succeeded
    within `db_window` (and the latest ping did not fail). The same signals as the systemd
    watchdog (RELIABILITY.md SD-3), read by `/healthz` instead of systemd."""

    def __init__(
        self,
        tick_seconds: float,
        *,
        db_window: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tick_seconds = tick_seconds
        self.db_window = db_window
        self.clock = clock
        self.last_tick: float | None = None
        self.last_db_ok: float | None = None
        self.db_error: str | None = None

    def tick(self) -> None:
        self.last_tick = self.clock()

    def db_ok(self) -> None:
        self.last_db_ok = self.clock()
        self.db_error = None

    def db_failed(self, reason: str) -> None:
        self.db_error = reason

    def check(self) -> tuple[bool, str]:
        """(healthy, "ok" or the reasons it is not)."""
        now = self.clock()
        problems = []
        if self.last_tick is None:
            problems.append("scheduler has not ticked yet")
        elif now - self.last_tick > 3 * self.tick_seconds:
            problems.append(f"scheduler stalled: last tick {now - self.last_tick:.1f}s ago")
        if self.db_error is not None:
            problems.append(f"database ping failed: {self.db_error}")
        elif self.last_db_ok is None:
            problems.append("database not pinged yet")
        elif now - self.last_db_ok > self.db_window:
            problems.append(f"no database ping succeeded for {now - self.last_db_ok:.0f}s")
        return (not problems, "; ".join(problems) or "ok")
