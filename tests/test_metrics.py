"""Metrics recorded by app, pipeline and delivery; the health rule; the HTTP endpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.app import make_app
from monitor.config import load_config
from monitor.errors import StoreError
from monitor.metrics import Health, Metrics
from tests.conftest import Clock
from tests.fakes import FailingNotifier, RecordingNotifier


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed with prometheus_client's own parser."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_pass_is_counted(
    workdir: Path, clock: Clock, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    copy_seeds(workdir / "inbox")
    (workdir / "inbox" / "empty.txt").write_text("")
    settings = load_config(workdir / "monitor.toml", env={})
    flaky = FailingNotifier("flaky", failures=99)
    app = make_app(settings, now=clock, notifiers={"rec": RecordingNotifier("rec"), "flaky": flaky})
    app.start()
    try:
        report = app.run_once()
        got = samples(app.metrics)
    finally:
        app.close()
    assert got[("monitor_polls_total", (("result", "ok"), ("source", "inbox")))] == 1
    assert got[("monitor_articles_total", (("outcome", "new"),))] == 5
    assert got[("monitor_articles_total", (("outcome", "skipped"),))] == 1
    assert got[("monitor_articles_total", (("outcome", "duplicate"),))] == 0
    alerts = {k[1][0][1]: v for k, v in got.items() if k[0] == "monitor_alerts_total"}
    assert sum(alerts.values()) == report.ingest.alerts and alerts["putin"] == 2
    sent = ("monitor_deliveries_total", (("notifier", "rec"), ("outcome", "sent")))
    assert got[sent] == report.ingest.alerts
    failed = ("monitor_deliveries_total", (("notifier", "flaky"), ("outcome", "failed")))
    assert got[failed] == report.ingest.alerts
    count = ("monitor_delivery_latency_seconds_count", (("notifier", "rec"),))
    assert got[count] == report.ingest.alerts
    assert got[("monitor_config_last_reload_successful", ())] == 1


def test_dead_deliveries_latency_and_fetch_errors_are_recorded() -> None:
    from datetime import UTC, datetime, timedelta

    metrics = Metrics()
    created = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    metrics.delivered("ops", created, created + timedelta(seconds=42))
    metrics.delivery("ops", "dead")
    metrics.fetch_error("dw")
    metrics.poll("dw", "failed")
    metrics.queue(pending=3, dead=1)
    metrics.reloaded(False)
    got = samples(metrics)
    assert got[("monitor_delivery_latency_seconds_sum", (("notifier", "ops"),))] == 42
    assert (
        got[("monitor_delivery_latency_seconds_bucket", (("le", "60.0"), ("notifier", "ops")))] == 1
    )
    assert (
        got[("monitor_delivery_latency_seconds_bucket", (("le", "15.0"), ("notifier", "ops")))] == 0
    )
    assert got[("monitor_deliveries_total", (("notifier", "ops"), ("outcome", "dead")))] == 1
    assert got[("monitor_fetch_errors_total", (("source", "dw"),))] == 1
    assert got[("monitor_polls_total", (("result", "failed"), ("source", "dw")))] == 1
    assert (got[("monitor_deliveries_pending", ())], got[("monitor_deliveries_dead", ())]) == (3, 1)
    assert got[("monitor_config_last_reload_successful", ())] == 0


def test_each_app_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.alert("x")
    assert ("monitor_alerts_total", (("topic", "x"),)) not in samples(two)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_health_needs_recent_ticks_and_a_recent_database_ping() -> None:
    clock = FakeMonotonic()
    health = Health(1.0, db_window=30.0, clock=clock)
    assert health.check() == (False, "scheduler has not ticked yet; database not pinged yet")
    health.tick()
    health.db_ok()
    assert health.check() == (True, "ok")
    clock.now += 3.0  # three ticks' time without a tick: still fine
    assert health.check()[0] is True
    clock.now += 0.5
    assert health.check() == (False, "scheduler stalled: last tick 3.5s ago")
    health.tick()
    clock.now += 27.5
    health.tick()
    assert health.check() == (False, "no database ping succeeded for 31s")
    health.db_ok()
    assert health.check() == (True, "ok")
    health.db_failed("database error: OperationalError: unable to open database file")
    assert health.check() == (
        False, "database ping failed: database error: OperationalError: unable to open database file"
    )  # fmt: skip
    health.db_ok()
    assert health.check()[0] is True


async def http_get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    status = int(head.split(" ", 2)[1])
    content_type = next(  # header names are case-insensitive (uvicorn sends lower case)
        line.split(": ", 1)[1]
        for line in head.split("\r\n")
        if line.lower().startswith("content-type:")
    )
    return status, content_type, body


def test_daemon_serves_healthz_and_metrics_then_503_when_the_database_fails(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.daemon
    from monitor.daemon import Daemon

    monkeypatch.setattr(monitor.daemon, "DB_PING_SECONDS", 0.2)
    port = free_port()
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text() + f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
    app = make_app(load_config(toml, env={}))
    daemon = Daemon(app)
    dropped = workdir / "inbox" / "a.txt"
    dropped.write_text("普丁訪問北韓，會見金正恩。" * 3, encoding="utf-8")
    os.utime(dropped, (1e9, 1e9))  # settled long ago: read by the first scan

    async def scenario() -> None:
        running = asyncio.create_task(daemon.main())
        for _ in range(100):
            try:
                status, _type, body = await http_get(port, "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.1)
        try:
            assert (status, body) == (200, "ok\n")
            for _ in range(100):  # the folder scan and the delivery pass
                _s, content_type, text = await http_get(port, "/metrics")
                if 'monitor_deliveries_total{notifier="archive",outcome="sent"}' in text:
                    break
                await asyncio.sleep(0.1)
            assert content_type == "text/plain; version=0.0.4; charset=utf-8", text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            assert {"monitor_polls", "monitor_articles", "monitor_alerts", "monitor_deliveries",
                    "monitor_delivery_latency_seconds", "monitor_deliveries_pending",
                    "monitor_config_last_reload_successful",
                    "monitor_fetch_errors"} <= set(families)  # fmt: skip
            assert families["monitor_delivery_latency_seconds"].type == "histogram"
            assert (await http_get(port, "/nope"))[0] == 404
            assert (await http_get(port, "/metrics", "POST"))[0] == 405
            assert (await http_get(port, "/healthz", "HEAD"))[2] == ""

            def unreachable() -> None:
                raise StoreError("database error: OperationalError: unable to open database file")

            monkeypatch.setattr(app.store, "ping", unreachable)
            for _ in range(50):
                status, _type, body = await http_get(port, "/healthz")
                if status == 503:
                    break
                await asyncio.sleep(0.1)
            assert status == 503
            assert body == (
                "database ping failed: database error: OperationalError: unable to open "
                "database file\n"
            )
        finally:
            daemon.request_stop(signal.SIGTERM)
            assert await running == 0
        with pytest.raises(OSError):
            await http_get(port, "/healthz")

    asyncio.run(scenario())
