"""Editing the watchlist while the daemon runs; files dropped into a watched folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_daemon import wait_for

NEW_TOPIC = '\n[[topics]]\nid = "kimchi"\ntitle = "Kimchi"\nany = ["泡菜"]\n'


class Running:
    """A `monitor run` subprocess whose stderr is collected in a file."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        toml = workdir / "monitor.toml"  # rescans every second: the safety net is exercised too
        toml.write_text(
            toml.read_text().replace('path = "inbox"', 'path = "inbox"\ninterval = "1s"')
        )
        self.log = workdir / "daemon.log"
        self.jsonl = workdir / "var" / "alerts.jsonl"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", str(workdir / "monitor.toml"), "run"],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        assert wait_for(lambda: "started" in self.log.read_text())

    def alerts(self) -> list[dict[str, object]]:
        if not self.jsonl.exists():
            return []
        return [json.loads(line) for line in self.jsonl.read_text().splitlines()]

    def topics_of(self, location: str) -> set[str]:
        return {a["topic"]["id"] for a in self.alerts() if a["article"]["location"] == location}  # type: ignore[index]

    def drop(self, name: str, text: str) -> None:
        """Write outside the folder, then move in (IN_MOVED_TO), as mail and sync tools do."""
        staging = self.workdir / f".{name}.tmp"
        staging.write_text(text, encoding="utf-8")
        os.replace(staging, self.workdir / "inbox" / name)

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=30)
        assert self.process.returncode == 0
        return self.log.read_text()


@pytest.fixture
def daemon(workdir: Path) -> Iterator[Running]:
    running = Running(workdir)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_a_file_moved_in_alerts_within_a_second(daemon: Running) -> None:
    started = time.monotonic()
    daemon.drop("a.txt", "俄羅斯總統普丁抵達平壤。" * 5)
    assert wait_for(lambda: "putin" in daemon.topics_of("a.txt"), timeout=5)
    assert time.monotonic() - started < 1.5


def test_a_half_written_file_is_never_read_half(daemon: Running) -> None:
    path = daemon.workdir / "inbox" / "slow.txt"
    with path.open("w", encoding="utf-8") as f:
        f.write("第一段沒有關鍵字。" * 20)
        f.flush()
        time.sleep(2.5)  # longer than the settle delay of unwatched folders
        assert daemon.topics_of("slow.txt") == set()
        f.write("第二段：普丁抵達平壤。")
    assert wait_for(lambda: "putin" in daemon.topics_of("slow.txt"), timeout=5)
    (article_text,) = {a["snippet"] for a in daemon.alerts() if a["topic"]["id"] == "putin"}  # type: ignore[index]
    assert "普丁" in str(article_text)


def test_watchlist_saved_in_place_reloads_and_new_topic_alerts(daemon: Running) -> None:
    watchlist = daemon.workdir / "watchlist.toml"
    with watchlist.open("a", encoding="utf-8") as f:
        f.write(NEW_TOPIC)
    assert wait_for(lambda: "reloaded" in daemon.log.read_text(), timeout=3)
    daemon.drop("k.txt", "韓國泡菜出口大增，業者看好海外市場。" * 3)
    assert wait_for(lambda: daemon.topics_of("k.txt") == {"kimchi"}, timeout=5)


def test_watchlist_saved_by_rename_reloads_and_removed_topics_stop(daemon: Running) -> None:
    watchlist = daemon.workdir / "watchlist.toml"
    text = watchlist.read_text(encoding="utf-8")
    without_putin = text.replace('[[topics]]\nid = "putin"', '[[topics]]\nid = "putin-off"')
    without_putin = without_putin.replace('any = ["普京"]\n', 'any = ["不存在的詞"]\n', 1)
    staging = daemon.workdir / ".watchlist.toml.swp"
    staging.write_text(without_putin, encoding="utf-8")
    os.replace(staging, watchlist)  # how vim and many editors save
    assert wait_for(lambda: "reloaded" in daemon.log.read_text(), timeout=3)
    daemon.drop("p.txt", "普丁與金正恩簽署協議，俄羅斯與北韓關係升溫。" * 3)
    assert wait_for(lambda: "russia-north-korea" in daemon.topics_of("p.txt"), timeout=5)
    assert "putin" not in daemon.topics_of("p.txt")


def test_an_invalid_edit_is_kept_out_and_the_old_watchlist_keeps_alerting(
    daemon: Running,
) -> None:
    watchlist = daemon.workdir / "watchlist.toml"
    with watchlist.open("a", encoding="utf-8") as f:
        f.write('\n[[topics]]\nid = "broken"\nall = ["flat", "list"]\n')
    assert wait_for(lambda: "reload rejected" in daemon.log.read_text(), timeout=3)
    log = daemon.log.read_text()
    assert "watchlist.toml:" in log and "topics[6].all" in log
    daemon.drop("q.txt", "普丁訪問北韓。" * 5)
    assert wait_for(lambda: "putin" in daemon.topics_of("q.txt"), timeout=5)
    assert "broken" not in {a["topic"]["id"] for a in daemon.alerts()}  # type: ignore[index]
    daemon.stop()
