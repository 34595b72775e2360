"""Pipeline decisions that need the config and the store: source tags, mutes, alert limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.app import App, make_app
from monitor.config import load_config
from tests.conftest import Clock
from tests.fakes import RecordingNotifier


@pytest.fixture
def recorder() -> RecordingNotifier:
    return RecordingNotifier("rec")


@pytest.fixture
def make(workdir: Path, clock: Clock, recorder: RecordingNotifier) -> Iterator[Callable[[], App]]:
    """Builds an app on `workdir` once the test has written its config and watchlist."""
    apps: list[App] = []

    def build() -> App:
        settings = load_config(workdir / "monitor.toml", env={})
        app = make_app(settings, now=clock, notifiers={"rec": recorder})
        app.start()
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def watch(workdir: Path, topics: str) -> None:
    (workdir / "watchlist.toml").write_text(topics, encoding="utf-8")


def drop(workdir: Path, name: str, text: str) -> None:
    (workdir / "inbox" / name).write_text(text, encoding="utf-8")


def topics_sent(recorder: RecordingNotifier) -> list[str]:
    return [d.alert.topic.id for d, _ in recorder.sent]


def test_source_tags_from_the_config_reach_the_matcher(
    workdir: Path, make: Callable[[], App], recorder: RecordingNotifier
) -> None:
    text = (
        (workdir / "monitor.toml")
        .read_text()
        .replace('id = "inbox"', 'id = "inbox"\ntags = ["asia"]')
    )
    (workdir / "monitor.toml").write_text(text)
    watch(workdir, '[[topics]]\nid = "asia"\nany = ["北韓"]\ntags = ["asia"]\n'
                   '[[topics]]\nid = "europe"\nany = ["北韓"]\ntags = ["europe"]\n'
                   '[[topics]]\nid = "inbox-only"\nany = ["北韓"]\nsources = ["inbox"]\n')  # fmt: skip
    drop(workdir, "a.txt", "北韓試射導彈。" * 10)
    make().run_once()
    assert sorted(topics_sent(recorder)) == ["asia", "inbox-only"]


def test_a_muted_topic_stores_articles_without_alerting_until_then(
    workdir: Path, make: Callable[[], App], recorder: RecordingNotifier, clock: Clock
) -> None:
    watch(workdir, '[[topics]]\nid = "muted"\nany = ["北韓"]\nmuted_until = "2026-11-24"\n'
                   '[[topics]]\nid = "open"\nany = ["北韓"]\n')  # fmt: skip
    app = make()
    drop(workdir, "a.txt", "北韓試射導彈。" * 10)
    report = app.run_once()
    assert report.ingest.new == 1 and topics_sent(recorder) == ["open"]
    clock.advance(days=1)  # 2026-11-24 08:00: the mute is over
    drop(workdir, "b.txt", "北韓再度試射。" * 10)
    app.run_once()
    assert sorted(topics_sent(recorder)) == ["muted", "open", "open"]


def test_alerts_past_max_per_hour_are_recorded_and_delivered_when_the_hour_ends(
    workdir: Path, make: Callable[[], App], recorder: RecordingNotifier, clock: Clock
) -> None:
    watch(workdir, '[[topics]]\nid = "storm"\nany = ["北韓"]\nmax_alerts_per_hour = 2\n'
                   '[[topics]]\nid = "calm"\nany = ["北韓"]\n')  # fmt: skip
    app = make()
    start = clock.now
    for i in range(4):
        drop(workdir, f"{i}.txt", f"北韓第{i}次試射。" * 10)
        report = app.run_once()
        assert report.ingest.alerts == 2  # every alert is recorded…
        clock.advance(minutes=10)
    # …but only two of the storm topic's went out; the other two wait for the hour to end.
    assert topics_sent(recorder).count("storm") == 2 and topics_sent(recorder).count("calm") == 4
    waiting = app.store.due_deliveries(clock.now, include_waiting=True)
    assert [d.alert.topic.id for d in waiting] == ["storm", "storm"]
    assert {d.next_attempt_at for d in waiting} == {start + timedelta(hours=1)}
    clock.now = start + timedelta(hours=1)
    app.run_once()
    assert topics_sent(recorder).count("storm") == 4
    # A new hour: the window now starts at the 2nd alert (10 min), which holds a 5th one.
    drop(workdir, "5.txt", "北韓第五次試射。" * 10)
    app.run_once()
    assert app.store.queue_summary(clock.now)["pending"] == 1
    (held,) = app.store.due_deliveries(clock.now, include_waiting=True)
    assert held.next_attempt_at == start + timedelta(minutes=70)


def test_reconfigure_swaps_source_tags_with_the_watchlist(
    workdir: Path, make: Callable[[], App]
) -> None:
    app = make()
    assert app.pipeline.tags == {}
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text().replace('id = "inbox"', 'id = "inbox"\ntags = ["asia"]'))
    app.reconfigure(load_config(toml, env={}))
    assert app.pipeline.tags == {"inbox": ("asia",)}


def test_articles_extracted_in_workers_are_not_folded_again_however_large_the_batch(
    workdir: Path, make: Callable[[], App], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folding (NFKC, casefold, OpenCC) is the costliest step of ingest: a parse worker does it
    once and hands the folded texts on with the article, so matching a group commit of many
    polls in the writer's thread folds nothing (a cache keyed by text could not hold 300)."""
    import pickle

    from monitor import text
    from monitor.extract import extract_batch
    from monitor.models import RawItem

    watch(workdir, '[[topics]]\nid = "nk"\nany = ["北韓"]\n')
    app = make()
    items = [
        RawItem(
            source="inbox",
            location=f"n{i}.txt",
            content=f"北韓第{i}次試射導彈，{i * 7919}號。".encode() * 8,
            content_type="text/plain",
            fetched_at=clock.now,
        )
        for i in range(300)
    ]
    # What crosses the process boundary: pickled, so nothing is shared with this process.
    extracted = pickle.loads(pickle.dumps(extract_batch(items)))
    text._MAPPED.clear()
    folds: list[str] = []
    real_fold = text.fold
    monkeypatch.setattr(text, "fold", lambda s: folds.append(s) or real_fold(s))
    report = app.pipeline.ingest_items(items, clock.now, extracted=extracted)
    assert report.new == 300 and report.alerts == 300
    assert folds == []
