"""The folder source: direct children only, never follows symlinks, never blocks, reads once."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.models import Outcome
from monitor.sources.folder import SETTLE, SETTLE_WATCHED, FolderSource

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def names(source: FolderSource, state: object = None) -> tuple[list[str], object]:
    poll = source.poll(state, NOW)
    return [item.location for item in poll.items], poll.state


def test_reads_matching_direct_children_once(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "b.md").write_text("# beta")
    (tmp_path / "c.pdf").write_bytes(b"%PDF")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.txt").write_text("nested")
    source = FolderSource("inbox", path=tmp_path)
    found, state = names(source)
    assert found == ["a.txt", "b.md"]
    again, state = names(source, state)
    assert again == []


def test_content_type_follows_the_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.HTML").write_text("<p>x</p>")
    (tmp_path / "b.md").write_text("x")
    (tmp_path / "c.txt").write_text("x")
    source = FolderSource("inbox", path=tmp_path, patterns=["*.HTML", "*.md", "*.txt"])
    types = {i.location: i.content_type for i in source.poll(None, NOW).items}
    assert types == {"a.HTML": "text/html", "b.md": "text/markdown", "c.txt": "text/plain"}


def test_touched_but_unchanged_files_are_not_handed_on_changed_ones_are(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one")
    source = FolderSource("inbox", path=tmp_path)
    _, state = names(source)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    found, state = names(source, state)
    assert found == []
    path.write_text("two")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    found, _ = names(source, state)
    assert found == ["a.txt"]


def test_symlinks_are_never_followed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("CANARY")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "link.txt").symlink_to(secret)
    (inbox / "dirlink.txt").symlink_to(tmp_path)
    source = FolderSource("inbox", path=inbox)
    poll = source.poll(None, NOW)
    assert poll.items == ()
    assert "symlink" in caplog.text
    caplog.clear()
    source.poll(poll.state, NOW)
    assert "symlink" not in caplog.text  # logged once per file version, not every poll


def test_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "ok.txt").write_text("fine")
    started = time.monotonic()
    found, _ = names(FolderSource("inbox", path=tmp_path))
    assert found == ["ok.txt"]
    assert time.monotonic() - started < 1


def test_oversized_files_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "big.txt").write_bytes(b"x" * 2048)
    found, _ = names(FolderSource("inbox", path=tmp_path, max_file_size=1024))
    assert found == []
    assert "too large" in caplog.text and "big.txt" in caplog.text


def test_names_with_control_characters_log_on_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "evil\nname\x1b.txt").symlink_to("/etc/passwd")
    names(FolderSource("inbox", path=tmp_path))
    (record,) = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert "\n" not in record.getMessage() and "\x1b" not in record.getMessage()


def test_missing_folder_is_a_failed_poll_not_an_exception(tmp_path: Path) -> None:
    poll = FolderSource("inbox", path=tmp_path / "nope").poll({"files": {"a": [1, 2, "h"]}}, NOW)
    assert poll.outcome is Outcome.FAILED and "cannot list folder" in (poll.reason or "")
    assert poll.state == {"files": {"a": [1, 2, "h"]}}  # kept for when the folder is back


# --- the settle rule (a file still being written is not read half-way) ---------------------


def write_at(path: Path, text: str, moment: datetime) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = moment.timestamp()
    os.utime(path, (stamp, stamp))


def test_never_watched_reads_every_file_at_once(tmp_path: Path) -> None:
    write_at(tmp_path / "fresh.txt", "just written", NOW)
    assert names(FolderSource("inbox", path=tmp_path))[0] == ["fresh.txt"]


def test_rescans_without_inotify_wait_for_settle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "asyncinotify", None)  # as on a system without inotify
    source = FolderSource("inbox", path=tmp_path)
    assert source.watch() is None
    write_at(tmp_path / "fresh.txt", "still being written", NOW - SETTLE / 2)
    write_at(tmp_path / "old.txt", "complete", NOW - SETTLE * 2)
    found, state = names(source)
    assert found == ["old.txt"]
    later = source.poll(state, NOW + SETTLE)
    assert [i.location for i in later.items] == ["fresh.txt"]


def test_watched_folder_leaves_files_modified_since_the_watch_to_their_close_event(
    tmp_path: Path,
) -> None:
    """With inotify up, a rescan reads a file modified while watched only when its close
    event came, or when it has been unchanged for SETTLE_WATCHED (a missed event)."""
    source = FolderSource("inbox", path=tmp_path)
    write_at(tmp_path / "before.txt", "there before the watch", NOW - SETTLE * 2)

    async def scenario() -> None:
        events = source.watch()
        assert events is not None
        try:
            found, state = names(source)  # the catch-up scan when the watch starts
            assert found == ["before.txt"]
            # A writer that paused: modified after the watch began, not closed yet.
            fd = os.open(tmp_path / "paused.txt", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"half of it")
            stamp = (NOW + SETTLE * 3).timestamp()
            os.utime(tmp_path / "paused.txt", (stamp, stamp))
            rescan = source.poll(state, NOW + SETTLE * 10)
            assert rescan.items == ()  # settled for 1 s, but watched: waits for its close
            missed = source.poll(rescan.state, NOW + SETTLE * 3 + SETTLE_WATCHED)
            assert [i.location for i in missed.items] == ["paused.txt"]
            # A closed file is read at once, whatever its mtime.
            (tmp_path / "closed.txt").write_text("complete", encoding="utf-8")
            notice = await asyncio.wait_for(anext(events), 5)  # type: ignore[call-overload]
            assert "closed.txt" in notice
            stamp = (NOW + SETTLE_WATCHED * 2).timestamp()
            os.utime(tmp_path / "closed.txt", (stamp, stamp))
            pushed = source.poll(missed.state, NOW + SETTLE_WATCHED * 2)
            assert [i.location for i in pushed.items] == ["closed.txt"]
            os.close(fd)
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_a_reloaded_folder_takes_over_the_running_watch(tmp_path: Path) -> None:
    old = FolderSource("inbox", path=tmp_path)
    same = FolderSource("inbox", path=tmp_path, end_markers=("--",))
    other = FolderSource("inbox", path=tmp_path, patterns=("*.md",))
    assert same.carry_over(old) and not other.carry_over(old)

    async def scenario() -> None:
        events = old.watch()
        assert events is not None
        try:
            names(same)  # the first poll after the watch: the new source has its state
            fd = os.open(tmp_path / "paused.txt", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"half of it")  # not closed: left to its close event
            stamp = (NOW + SETTLE).timestamp()
            os.utime(tmp_path / "paused.txt", (stamp, stamp))
            assert names(same)[0] == []  # a never-watched source would read it
            os.close(fd)
            await asyncio.wait_for(anext(events), 5)  # type: ignore[call-overload]
            (tmp_path / "new.txt").write_text("complete", encoding="utf-8")
            await asyncio.wait_for(anext(events), 5)  # type: ignore[call-overload]
            stamp = NOW.timestamp()  # "fresh" by mtime: only the close event lets it in
            os.utime(tmp_path / "new.txt", (stamp, stamp))
            assert names(same)[0] == ["new.txt", "paused.txt"]
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_bad_options_are_value_errors_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^patterns:"):
        FolderSource("inbox", path=tmp_path, patterns=["sub/*.txt"])
    with pytest.raises(ValueError, match=r"^patterns:"):
        FolderSource("inbox", path=tmp_path, patterns=[])


def test_a_closed_file_whose_poll_was_never_stored_is_read_again_at_the_next_poll(
    tmp_path: Path,
) -> None:
    """The close event is used up by the poll that reads the file; if that poll's result never
    reaches the database (its write batch rolled back, the process stopped), the next poll
    starts from the old state and must read the file again, not leave it to SETTLE_WATCHED."""
    source = FolderSource("inbox", path=tmp_path)

    async def scenario() -> None:
        events = source.watch()
        assert events is not None
        try:
            _, state = names(source)  # the catch-up scan when the watch starts
            (tmp_path / "new.txt").write_text("complete", encoding="utf-8")
            await asyncio.wait_for(anext(events), 5)  # type: ignore[call-overload]
            stamp = (NOW + SETTLE * 5).timestamp()  # modified while watched
            os.utime(tmp_path / "new.txt", (stamp, stamp))
            lost = source.poll(state, NOW + SETTLE * 10)
            assert [i.location for i in lost.items] == ["new.txt"]
            retried = source.poll(state, NOW + SETTLE * 11)  # the old state: `lost` not stored
            assert [i.location for i in retried.items] == ["new.txt"]
            stored = source.poll(retried.state, NOW + SETTLE * 12)  # this time it was stored
            assert stored.items == ()
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    asyncio.run(scenario())
