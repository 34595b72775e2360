"""Digest mode, generic in config + delivery: held to the period boundary, then ONE send call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from monitor.app import make_app
from monitor.config import load_config
from monitor.delivery import period_end
from monitor.errors import NotifyError
from monitor.models import Delivery
from tests.conftest import Clock
from tests.fakes import RecordingNotifier


class CallRecorder(RecordingNotifier):
    def __init__(self, name: str, fail: int = 0) -> None:
        super().__init__(name)
        self.calls: list[list[str]] = []
        self.fail = fail

    def send(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        self.calls.append([d.id for d in deliveries])
        if self.fail:
            self.fail -= 1
            raise NotifyError(self.name, "down")
        super().send(deliveries, now)


def digest_config(workdir: Path, digest: str = "1h") -> Path:
    config = workdir / "monitor.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('type = "jsonl"', f'type = "jsonl"\ndigest = "{digest}"')
    config.write_text(text + '\n[delivery]\nretry_schedule = ["5m"]\njitter = 0\n')
    return config


def test_period_end_is_aligned_to_the_epoch(clock: Clock) -> None:
    assert clock.now.minute == 0
    assert period_end(clock.now, timedelta(hours=1)) == clock.now
    later = clock.now + timedelta(minutes=1)
    assert period_end(later, timedelta(hours=1)) == clock.now + timedelta(hours=1)


def test_digest_waits_for_the_boundary_then_sends_once(
    workdir: Path, clock: Clock, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    copy_seeds(workdir / "inbox")
    settings = load_config(digest_config(workdir), env={})
    assert settings.notifiers[0].digest == timedelta(hours=1)
    clock.advance(minutes=10)
    recorder = CallRecorder("archive", fail=1)
    app = make_app(settings, now=clock, notifiers={"archive": recorder})
    app.start()
    try:
        report = app.run_once()
        assert report.ingest.alerts > 1 and recorder.calls == []  # held until 09:00
        clock.advance(minutes=49)
        app.deliver()
        assert recorder.calls == []
        clock.advance(minutes=1)
        app.deliver()  # 09:00: one call with every alert; it fails and is retried as a whole
        assert len(recorder.calls) == 1 and len(recorder.calls[0]) == report.ingest.alerts
        assert app.store.delivery_counts() == {"pending": report.ingest.alerts}
        clock.advance(minutes=5)
        app.deliver()
        assert len(recorder.calls) == 2 and sorted(recorder.calls[1]) == sorted(recorder.calls[0])
        assert app.store.delivery_counts() == {"sent": report.ingest.alerts}
    finally:
        app.close()


def test_digest_option_is_checked(workdir: Path) -> None:
    import pytest

    from monitor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"notifiers\[0\]\.digest.*at least 1m"):
        load_config(digest_config(workdir, "10s"), env={})
