"""Folder source: the direct children of one directory that match the patterns, read safely.

Files are opened with O_NOFOLLOW | O_NONBLOCK and checked with fstat on that same descriptor,
so a symlink, a FIFO or a device planted in the folder is never followed, blocked on or read
(RELIABILITY.md FS-1..FS-4). A file unchanged since the last poll (size, mtime, then the hash
of its bytes) is not handed on again.
"""

from __future__ import annotations

import asyncio
import errno
import fnmatch
import hashlib
import logging
import os
import stat
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from monitor.errors import SourceError
from monitor.models import Outcome, Poll, RawItem
from monitor.plugins import Bytes, Source

log = logging.getLogger(__name__)

DEFAULT_PATTERNS = ("*.txt", "*.md", "*.html")
DEFAULT_MAX_FILE_SIZE = Bytes(10 * 1024 * 1024)
SETTLE = timedelta(seconds=1)  # a file unchanged this long is complete
# With inotify, fresh files arrive through their close event; a rescan is only the safety net
# for missed events, so it leaves anything modified while watched alone this long.
SETTLE_WATCHED = timedelta(minutes=2)
_CONTENT_TYPES = {".html": "text/html", ".htm": "text/html", ".md": "text/markdown"}
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class FolderSource(Source):
    """Reads article files dropped into `path`. State: name → [size, mtime_ns, sha256]."""

    default_interval: ClassVar[timedelta | None] = timedelta(seconds=30)  # a cheap rescan

    def __init__(
        self,
        id: str,
        *,
        path: Path,
        patterns: Sequence[str] = DEFAULT_PATTERNS,
        end_markers: Sequence[str] = (),
        max_file_size: Bytes = DEFAULT_MAX_FILE_SIZE,
    ) -> None:
        super().__init__(id)
        if not patterns:
            raise ValueError("patterns: needs at least one pattern")
        for pattern in patterns:
            if "/" in pattern or os.sep in pattern:
                raise ValueError(f"patterns: {pattern!r} names a subfolder; only direct children")
        if max_file_size <= 0:
            raise ValueError("max_file_size: must be positive")
        self.path = Path(path)
        self.patterns = tuple(patterns)
        self.end_markers = tuple(m for m in end_markers if m)
        self.max_file_size = max_file_size
        self._push = _PushState()

    def poll(self, state: Any, now: datetime) -> Poll:
        """New or changed files since `state`; a folder that cannot be listed is a FAILED poll.

        Which files are complete enough to read (the settle rule) depends on what `watch` set
        up, never on the caller:
        - never watched (`run --once`, `explain`): every file, there is no later scan;
        - watched without inotify: files unchanged for SETTLE;
        - watched with inotify: files the watch reported closed after writing or moved in
          are read at once; of the rest, files last modified before the watch began (no
          event is coming for them) once unchanged for SETTLE, files modified since only
          after SETTLE_WATCHED (their close event was missed: queue overflow, a network
          filesystem), so a writer that pauses is never read half-way.
        """
        known: dict[str, list[Any]] = dict((state or {}).get("files", {}))
        closed, rule = self._push.take(now, known)
        seen: dict[str, list[Any]] = {}
        items: list[RawItem] = []
        try:
            entries = sorted(os.scandir(self.path), key=lambda e: e.name)
        except OSError as e:
            self._push.add(closed)  # a later poll still owes these names a read
            reason = f"cannot list folder {self.path}: {e.strerror}"
            return Poll((), state, Outcome.FAILED, reason)
        for entry in entries:
            if not any(fnmatch.fnmatchcase(entry.name, p) for p in self.patterns):
                continue
            previous = known.get(entry.name)
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we listed
            if previous and previous[0] == info.st_size and previous[1] == info.st_mtime_ns:
                seen[entry.name] = previous
                continue
            if entry.name not in closed and not rule.settled(info.st_mtime_ns):
                if previous:
                    seen[entry.name] = previous
                continue  # still settling: read at a later scan or on its close event
            record = self._read(entry.name, info, previous, now)
            if record is None:
                continue
            fingerprint, item = record
            seen[entry.name] = fingerprint
            if item is not None:
                items.append(item)
        self._push.read({name: seen[name] for name in closed if name in seen})
        return Poll(items=tuple(items), state={"files": seen})

    def target(self) -> str:
        return str(self.path)

    def watch(self) -> AsyncIterator[set[str]] | None:
        """Names of files closed after writing or moved into the folder, in batches.

        Calling it tells the source that polls will keep coming (the settle rule of `poll`).
        None where inotify is unavailable (not Linux): the daemon then relies on rescans.
        The names are also kept for the next `poll`, which reads them whatever their mtime.
        """
        self._push.set_mode("rescan")
        try:
            import asyncinotify
        except ImportError:
            return None
        # The watch is in place when this returns (not on the first iteration), so a scan
        # made right after cannot miss a file: it arrived either before or with an event.
        inotify = asyncinotify.Inotify()
        mask = (
            asyncinotify.Mask.CLOSE_WRITE | asyncinotify.Mask.MOVED_TO | asyncinotify.Mask.ONLYDIR
        )
        try:
            inotify.add_watch(self.path, mask)
        except OSError as e:
            inotify.close()
            raise SourceError(self.id, f"cannot watch folder {self.path}: {e.strerror}") from e
        self._push.set_mode("inotify")
        return self._watch(inotify, self._push)

    def carry_over(self, previous: Source) -> bool:
        """The same folder and patterns: the running watch serves this source too."""
        if not isinstance(previous, FolderSource):
            return False
        if (previous.path, previous.patterns) != (self.path, self.patterns):
            return False
        self._push = previous._push
        return True

    async def _watch(self, inotify: Any, push: _PushState) -> AsyncIterator[set[str]]:
        try:
            async for batch in self._batches(inotify):
                push.add(batch)
                yield batch
        finally:
            push.set_mode("rescan")

    async def _batches(self, inotify: Any) -> AsyncIterator[set[str]]:
        with inotify:
            batch: set[str] = set()
            events = aiter(inotify)
            while True:
                if not batch:
                    event = await anext(events)
                else:
                    try:  # gather what arrives within a few ms into one rescan
                        event = await asyncio.wait_for(anext(events), 0.005)
                    except TimeoutError:
                        yield batch
                        batch = set()
                        continue
                name = event.name.name if event.name is not None else ""
                if name and any(fnmatch.fnmatchcase(name, p) for p in self.patterns):
                    batch.add(name)

    def read_file(self, path: Path, now: datetime) -> RawItem:
        """One file as this source would read it (`monitor explain`); `SourceError` if unfit."""
        try:
            _info, content = _read_regular(path, self.max_file_size)
        except FileNotFoundError as e:
            raise SourceError(self.id, f"{path}: no such file") from e
        except _Skipped as e:
            raise SourceError(self.id, f"{path}: {e.reason}") from e
        return self._item(path.name, content, now)

    def _read(
        self, name: str, listed: os.stat_result, previous: list[Any] | None, now: datetime
    ) -> tuple[list[Any], RawItem | None] | None:
        """(fingerprint, item or None when skipped or unchanged); None: vanished meanwhile.

        A skipped file keeps its fingerprint too, so it is logged once per version, not
        once per poll.
        """
        fingerprint: list[Any] = [listed.st_size, listed.st_mtime_ns, None]
        if stat.S_ISLNK(listed.st_mode):
            self._log_skip(name, "symlink")
            return fingerprint, None
        try:
            info, content = _read_regular(self.path / name, self.max_file_size)
        except FileNotFoundError:
            return None
        except _Skipped as e:
            if e.info is not None:
                fingerprint = [e.info.st_size, e.info.st_mtime_ns, None]
            self._log_skip(name, e.reason)
            return fingerprint, None
        digest = hashlib.sha256(content).hexdigest()
        fingerprint = [info.st_size, info.st_mtime_ns, digest]
        if previous and previous[2] == digest:
            return fingerprint, None  # touched, not changed
        return fingerprint, self._item(name, content, now)

    def _item(self, name: str, content: bytes, now: datetime) -> RawItem:
        suffix = os.path.splitext(name)[1].lower()
        return RawItem(
            source=self.id,
            location=name,
            content=content,
            content_type=_CONTENT_TYPES.get(suffix, "text/plain"),
            fetched_at=now,
            meta={"end_markers": self.end_markers},
        )

    def _log_skip(self, name: str, reason: str) -> None:
        # ascii(): control characters in names stay on one log line (FS-4)
        log.warning("skipped file source=%s file=%s reason=%r", self.id, ascii(name)[1:-1], reason)


class _PushState:
    """What the watch tells the next poll: files reported closed (read whatever their
    mtime) and the watch mode (the settle rule). Written by the watch on the event loop,
    read by `poll` in a worker thread; a reload's new source takes it over (`carry_over`).

    A closed file's event is used up by the poll that reads it, but that poll's result may
    never be stored (its write batch rolled back): `unconfirmed` keeps what each such read
    found until the next poll's state shows it stored; otherwise the file counts as closed
    again, rather than waiting SETTLE_WATCHED for a missed event."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mode: str | None = None  # None: never watched; "rescan"; "inotify"
        self.since: datetime | None = None  # the first poll after the inotify watch began
        self.closed: set[str] = set()
        self.unconfirmed: dict[str, list[Any]] = {}  # name → fingerprint the last poll read

    def set_mode(self, mode: str) -> None:
        with self.lock:
            self.mode = mode
            self.since = None

    def add(self, names: set[str]) -> None:
        with self.lock:
            self.closed |= names

    def read(self, fingerprints: dict[str, list[Any]]) -> None:
        """The closed files a poll read, and what it found: owed a read until stored."""
        with self.lock:
            self.unconfirmed = fingerprints

    def take(self, now: datetime, known: dict[str, list[Any]]) -> tuple[set[str], _SettleRule]:
        """The names to read whatever their mtime (closed since the last poll, or read by a
        poll whose result `known`, the stored state, does not show), and the settle rule."""
        with self.lock:
            lost = {n for n, found in self.unconfirmed.items() if known.get(n) != found}
            closed, self.closed, self.unconfirmed = self.closed | lost, set(), {}
            if self.mode == "inotify" and self.since is None:
                self.since = now
            mode, since = self.mode, self.since
        if mode is None:
            return closed, _SettleRule()
        short = (now - SETTLE).timestamp() * 1e9
        if mode != "inotify" or since is None:
            return closed, _SettleRule(short)
        long = (now - SETTLE_WATCHED).timestamp() * 1e9
        return closed, _SettleRule(short, since.timestamp() * 1e9, long)


@dataclass(frozen=True)
class _SettleRule:
    """Modification times (ns) that count as complete; all None: every file is."""

    settled_before: float | None = None  # unchanged since: complete
    watch_since: float | None = None  # modified after this: left to its close event…
    missed_before: float | None = None  # …unless unchanged since this (a missed event)

    def settled(self, mtime_ns: int) -> bool:
        if self.settled_before is None:
            return True
        if self.missed_before is not None and mtime_ns >= (self.watch_since or 0):
            return mtime_ns <= self.missed_before
        return mtime_ns <= self.settled_before


class _Skipped(Exception):
    def __init__(self, reason: str, info: os.stat_result | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.info = info


def _read_regular(path: Path, limit: int) -> tuple[os.stat_result, bytes]:
    """Open without following symlinks or blocking on FIFOs; read a regular file up to `limit`.

    The checks use fstat on the descriptor we read from, never the name again (FS-3).
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise _Skipped("symlink" if e.errno == errno.ELOOP else str(e.strerror), None) from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Skipped("not a regular file", info)
        if info.st_size > limit:
            raise _Skipped(f"too large ({info.st_size} bytes, limit {limit})", info)
        content = _read_all(fd, limit + 1)
    finally:
        os.close(fd)
    if len(content) > limit:  # grew while we read it
        raise _Skipped(f"too large (over {limit} bytes)", info)
    return info, content


def _read_all(fd: int, limit: int) -> bytes:
    chunks = []
    total = 0
    while total < limit:
        chunk = os.read(fd, min(1 << 20, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
