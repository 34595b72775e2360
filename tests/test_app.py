"""The pipeline and delivery driven through the app: a real SQLite file (and PostgreSQL when
MONITOR_TEST_POSTGRES_URL is set), fake notifiers, a fixed clock."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import jsonschema
import opencc
import pytest
from referencing import Registry, Resource

from monitor.app import App, make_app
from monitor.config import load_config
from monitor.pipeline import alert_id, delivery_id
from tests.conftest import CONTRACT, Clock
from tests.fakes import FailingNotifier, RecordingNotifier


@pytest.fixture
def make(workdir: Path, clock: Clock, database_env: dict[str, str]) -> Callable[..., App]:
    apps: list[App] = []

    def build(**notifiers: object) -> App:
        settings = load_config(workdir / "monitor.toml", env=database_env)
        app = make_app(settings, now=clock, notifiers=notifiers or None)  # type: ignore[arg-type]
        app.start()
        apps.append(app)
        return app

    yield build  # type: ignore[misc]
    for app in apps:
        app.close()


def test_seeds_alert_once_and_a_second_pass_adds_nothing(
    make: Callable[..., App], workdir: Path, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    copy_seeds(workdir / "inbox")
    recorder = RecordingNotifier("rec")
    app = make(rec=recorder)
    report = app.run_once()
    assert report.ok and report.ingest.new == 5
    assert report.delivery.sent == report.ingest.alerts == len(recorder.sent) > 0
    fired = {(d.alert.article.location[:3], d.alert.topic.id) for d, _ in recorder.sent}
    assert ("004", "putin") in fired and ("002", "putin") in fired  # 普丁 and 蒲亭
    assert ("004", "russia-north-korea") in fired
    assert ("000", "china-russia-arms") in fired
    assert ("003", "us-china-military-talks") in fired
    assert ("001", "nuclear-arsenals") in fired
    assert ("002", "taiwan") not in fired  # Taiwan only appears after the end marker

    again = make(rec=recorder).run_once()
    assert (again.ingest.new, again.ingest.alerts, again.delivery.sent) == (0, 0, 0)


def test_recapture_and_simplified_copy_are_the_same_article(
    make: Callable[..., App], workdir: Path
) -> None:
    seed = Path(__file__).resolve().parent.parent / "seeds" / "004_afff801dc2e45540.txt"
    inbox = workdir / "inbox"
    shutil.copy(seed, inbox / seed.name)
    recorder = RecordingNotifier("rec")
    app = make(rec=recorder)
    first = app.run_once()
    assert first.ingest.new == 1 and first.ingest.alerts > 0

    original = seed.read_text(encoding="utf-8")
    recaptured = re.sub(r"^<!--\d+-->", "<!--1718700000000-->", original)
    assert recaptured != original
    (inbox / "recaptured-later.txt").write_text(recaptured, encoding="utf-8")
    simplified = opencc.OpenCC("t2s").convert(original).replace("，", ",").replace("：", ":")
    assert simplified != original
    (inbox / "simplified.txt").write_text(simplified, encoding="utf-8")

    second = app.run_once()
    assert (second.ingest.new, second.ingest.duplicates, second.ingest.alerts) == (0, 2, 0)
    assert second.delivery.sent == 0


def test_bad_files_are_skipped_and_the_pass_goes_on(
    make: Callable[..., App], workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = workdir / "inbox"
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (inbox / "good.txt").write_text("普丁訪問北韓，與金正恩會談。" * 5, encoding="utf-8")
    app = make(rec=RecordingNotifier("rec"))
    report = app.run_once()
    assert report.ok
    assert (report.ingest.new, report.ingest.skipped) == (1, 2)
    assert "empty.txt" in caplog.text and "binary.txt" in caplog.text
    caplog.clear()
    assert make(rec=RecordingNotifier("rec")).run_once().ingest.skipped == 0  # once per version
    assert "empty.txt" not in caplog.text


def test_a_failed_delivery_waits_and_is_retried_with_the_same_id(
    make: Callable[..., App], workdir: Path, clock: Clock
) -> None:
    (workdir / "inbox" / "a.txt").write_text("普丁訪問北韓。" * 10, encoding="utf-8")
    flaky = FailingNotifier("flaky", failures=2)  # both alerts fail once
    app = make(flaky=flaky)
    first = app.run_once()
    assert not first.ok and first.delivery.failed == 2 and first.delivery.sent == 0
    assert flaky.sent == []

    clock.advance(seconds=2)  # first retry is 5 s ± 20 %
    assert app.deliver().sent == 0

    clock.advance(seconds=5)
    retried = app.deliver()
    assert retried.sent == 2
    ids = {d.id for d, _ in flaky.sent}
    article_hash = flaky.sent[0][0].alert.article.content_hash
    expected = {
        delivery_id(alert_id(article_hash, t), "flaky") for t in ("putin", "russia-north-korea")
    }
    assert ids == expected
    assert all(d.attempts == 1 for d, _ in flaky.sent)  # attempts before this one
    assert app.store.delivery_counts() == {"sent": 2}


def test_run_once_delivers_while_its_polls_run(workdir: Path, clock: Clock) -> None:
    """A first run's alerts go out while later sources are still polled (a pass every
    DELIVER_WHILE_POLLING s), not all after the last poll; the last pass still sends the
    rest, and each alert is delivered once."""
    import threading

    from monitor.config import SourceSettings
    from tests.fakes import FakeSource

    recorder = RecordingNotifier("rec")
    seen_during_poll = threading.Event()

    class SlowSource(FakeSource):
        def poll(self, state, now):  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + 10
            while not recorder.sent and time.monotonic() < deadline:
                time.sleep(0.05)
            if recorder.sent:
                seen_during_poll.set()
            return super().poll(state, now)

    fast, slow = FakeSource("fast"), SlowSource("slow")
    fast.add("a.txt", "普丁訪問平壤。" * 10)
    slow.add("b.txt", "普丁會見金正恩。" * 10)
    sources = [
        SourceSettings(id=s.id, type="fake", source=s, interval=timedelta(minutes=5))
        for s in (fast, slow)
    ]
    app = make_app(
        load_config(workdir / "monitor.toml", env={}), now=clock, sources=sources,
        notifiers={"rec": recorder},
    )  # fmt: skip
    app.start()
    try:
        report = app.run_once()
    finally:
        app.close()
    assert seen_during_poll.is_set()  # the fast source's alert left before the slow poll ended
    assert {d.alert.article.location for d, _ in recorder.sent} == {"a.txt", "b.txt"}
    ids = [d.id for d, _ in recorder.sent]  # b.txt matches two topics: two alerts
    assert len(ids) == len(set(ids)) == report.delivery.sent == report.ingest.alerts
    assert report.ok


def test_retry_now_retries_waiting_deliveries(make: Callable[..., App], workdir: Path) -> None:
    (workdir / "inbox" / "a.txt").write_text("普丁訪問。" * 10, encoding="utf-8")
    flaky = FailingNotifier("flaky", failures=1)
    app = make(flaky=flaky)
    assert app.run_once().delivery.failed == 1
    assert app.run_once().delivery.sent == 0
    assert app.run_once(retry_now=True).delivery.sent == 1


def test_permanent_failures_and_exhausted_schedules_go_dead(
    make: Callable[..., App], workdir: Path, clock: Clock
) -> None:
    (workdir / "inbox" / "a.txt").write_text("普丁訪問。" * 10, encoding="utf-8")
    app = make(bad=FailingNotifier("bad", failures=99, permanent=True))
    assert app.run_once().delivery.dead == 1
    assert app.store.delivery_counts() == {"dead": 1}


def test_schedule_exhaustion(make: Callable[..., App], workdir: Path, clock: Clock) -> None:
    (workdir / "inbox" / "a.txt").write_text("普丁訪問。" * 10, encoding="utf-8")
    app = make(down=FailingNotifier("down", failures=99))
    app.run_once()
    for _ in range(len(app.settings.delivery.retry_schedule)):
        clock.advance(hours=30)
        app.deliver()
    assert app.store.delivery_counts() == {"dead": 1}


def test_retry_after_is_a_floor(make: Callable[..., App], workdir: Path, clock: Clock) -> None:
    (workdir / "inbox" / "a.txt").write_text("普丁訪問。" * 10, encoding="utf-8")
    app = make(slow=FailingNotifier("slow", failures=1, retry_after=timedelta(minutes=10)))
    app.run_once()
    clock.advance(minutes=9)
    assert app.deliver().sent == 0
    clock.advance(minutes=2)
    assert app.deliver().sent == 1


def test_a_crashing_plugin_is_one_failed_delivery_not_a_crash(
    make: Callable[..., App], workdir: Path
) -> None:
    class Broken(RecordingNotifier):
        def send(self, deliveries, now):  # type: ignore[no-untyped-def]
            raise RuntimeError("bug in plugin")

    (workdir / "inbox" / "a.txt").write_text("普丁訪問。" * 10, encoding="utf-8")
    recorder = RecordingNotifier("ok")
    report = make(broken=Broken("broken"), ok=recorder).run_once()
    assert report.delivery.failed == 1 and report.delivery.sent == 1


def test_topic_notify_restricts_notifiers(make: Callable[..., App], workdir: Path) -> None:
    with (workdir / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[topics]]\nid = "only-archive"\nany = ["獨家"]\nnotify = ["archive"]\n')
    (workdir / "inbox" / "a.txt").write_text("獨家報導。" * 10, encoding="utf-8")
    settings = load_config(workdir / "monitor.toml", env={})
    recorder = RecordingNotifier("rec")
    app = make_app(settings, notifiers={"archive": recorder, "other": RecordingNotifier("other")})
    app.start()
    app.run_once()
    app.close()
    assert [d.notifier for d, _ in recorder.sent] == ["archive"]


def test_jsonl_lines_follow_the_public_contract(
    make: Callable[..., App], workdir: Path, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    copy_seeds(workdir / "inbox")
    app = make()  # the configured jsonl notifier
    report = app.run_once()
    lines = (workdir / "var" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == report.ingest.alerts > 0
    schema = json.loads((CONTRACT / "alert-v1.schema.json").read_text())
    registry = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    validator = jsonschema.Draft202012Validator(schema, registry=registry,
                                                format_checker=jsonschema.FormatChecker())  # fmt: skip
    for line in lines:
        alert = json.loads(line)
        validator.validate(alert)
        expected_id = (
            "alert_"
            + hashlib.sha256(
                f"{alert['article']['content_hash']}\n{alert['topic']['id']}".encode()
            ).hexdigest()[:32]
        )
        assert alert["id"] == expected_id
        assert alert["created_at"] == "2026-11-23T08:00:00Z"
        assert "<" not in alert["snippet"]
    by_file = {json.loads(line)["article"]["location"] for line in lines}
    assert "004_afff801dc2e45540.txt" in by_file
    putin = next(json.loads(x) for x in lines if '"putin"' in x and "004_" in x)
    assert putin["matched"] == ["普京"] and putin["found"] == ["普丁"]
    assert putin["article"]["published"] == "2024-06-18T04:45:28.576Z"
    assert putin["article"]["url"].startswith("https://www.dw.com/")
    # Every alert names its article's story (here each seed is its own root).
    root = hashlib.sha256(f"story\n{putin['article']['content_hash']}".encode()).hexdigest()
    assert putin["story"] == {"id": f"story_{root[:32]}"}


def test_a_missing_folder_fails_the_pass_but_delivers(
    make: Callable[..., App], workdir: Path
) -> None:
    shutil.rmtree(workdir / "inbox")
    report = make(rec=RecordingNotifier("rec")).run_once()
    assert report.failed_sources == ["inbox"] and not report.ok
