"""The folder source: direct children only, never follows symlinks, never blocks, reads once."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import SourceError
from monitor.sources.folder import FolderSource

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


def test_missing_folder_fails_the_source(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot list folder"):
        FolderSource("inbox", path=tmp_path / "nope").poll(None, NOW)


def test_bad_options_are_value_errors_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^patterns:"):
        FolderSource("inbox", path=tmp_path, patterns=["sub/*.txt"])
    with pytest.raises(ValueError, match=r"^patterns:"):
        FolderSource("inbox", path=tmp_path, patterns=[])
