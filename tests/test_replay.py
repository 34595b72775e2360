"""Trying topics on what is already stored: replay (dry run and --send), topics, explain."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import respx

from monitor.cli import main

NEW_TOPIC = '\n[[topics]]\nid = "pyongyang"\ntitle = "Pyongyang"\nany = ["平壤"]\n'


def cli(workdir: Path, *args: str) -> int:
    return main(["--config", str(workdir / "monitor.toml"), *args])


@pytest.fixture
def stored(workdir: Path, copy_seeds: Callable[[Path], list[Path]]) -> Path:
    copy_seeds(workdir / "inbox")
    assert cli(workdir, "run", "--once") == 0
    return workdir


def jsonl_ids(workdir: Path) -> list[str]:
    path = workdir / "var" / "alerts.jsonl"
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_replay_dry_run_lists_and_writes_nothing(stored: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with (stored / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write(NEW_TOPIC)
    before = jsonl_ids(stored)
    capsys.readouterr()
    assert cli(stored, "replay", "--since", "all", "--topic", "pyongyang") == 0
    out = capsys.readouterr().out
    assert "would alert" in out and "5 articles scanned" in out and "1 would be new" in out
    assert cli(stored, "run", "--once") == 0
    assert jsonl_ids(stored) == before  # nothing was queued


def test_replay_send_queues_only_missing_alerts_once(stored: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with (stored / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write(NEW_TOPIC)
    before = jsonl_ids(stored)
    assert cli(stored, "replay", "--since", "all", "--send") == 0
    assert "1 queued" in capsys.readouterr().out
    assert cli(stored, "replay", "--since", "all", "--send") == 0
    assert "0 queued" in capsys.readouterr().out
    assert cli(stored, "run", "--once") == 0
    after = jsonl_ids(stored)
    assert len(after) == len(before) + 1 and len(set(after)) == len(after)


def test_replay_since_limits_the_scan(stored: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert cli(stored, "replay", "--since", "1h") == 0
    assert "5 articles scanned" in capsys.readouterr().out
    assert cli(stored, "replay", "--since", "soon") == 2
    assert cli(stored, "replay", "--topic", "nope") == 2


def test_topics_counts_alerts(stored: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert cli(stored, "topics") == 0
    out = capsys.readouterr().out
    putin = next(line for line in out.splitlines() if line.startswith("putin "))
    assert putin.split()[-2:] == ["2", "2"]  # seeds 002 (蒲亭) and 004 (普丁)


def test_explain_a_stored_article_by_hash_prefix(stored: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert cli(stored, "explain", "--json", "--article", "f4c0c2a3") == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["article"]["content_hash"].startswith("v1:f4c0c2a3")
    assert {t["id"] for t in result["topics"] if t["matched"]} >= {"putin", "russia-north-korea"}
    assert cli(stored, "explain", "--article", "ffffffff") == 1
    assert cli(stored, "explain", "--article", "") == 1  # ambiguous: every hash matches


@respx.mock
def test_explain_a_feed_url(workdir: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    respx.get("https://feed.example/rss").respond(
        200,
        content=(
            "<rss version='2.0'><channel><title>x</title><item><title>普丁抵達平壤</title>"
            "<link>https://feed.example/1</link><description>普丁與金正恩會談。</description>"
            "</item></channel></rss>"
        ).encode(),
    )
    code = cli(workdir, "explain", "--json", "--allow-private-network", "https://feed.example/rss")
    assert code == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["target"] == "https://feed.example/1"
    assert {t["id"] for t in result["topics"] if t["matched"]} == {"putin", "russia-north-korea"}


def test_explain_needs_something(workdir: Path) -> None:
    assert cli(workdir, "explain") == 2


def test_explain_highlights_hits_in_context(workdir: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = workdir / "inbox" / "a.txt"
    path.write_text("前文。普丁抵達平壤。後文。", encoding="utf-8")
    assert cli(workdir, "explain", "--no-color", str(path)) == 0
    assert "text: …前文。[普丁]抵達平壤。後文。…" in capsys.readouterr().out
