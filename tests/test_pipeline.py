"""Pipeline decisions that need the config and the store: source tags, mutes, alert limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
