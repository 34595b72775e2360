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
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.errors import SourceError
from monitor.models import Poll, RawItem
from monitor.plugins import Source

log = logging.getLogger(__name__)

DEFAULT_PATTERNS = ("*.txt", "*.md", "*.html")
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
_CONTENT_TYPES = {".html": "text/html", ".htm": "text/html", ".md": "text/markdown"}
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class FolderSource(Source):
    """Reads article files dropped into `path`. State: name → [size, mtime_ns, sha256]."""

    def __init__(
        self,
        id: str,
        *,
        path: Path,
        patterns: Sequence[str] = DEFAULT_PATTERNS,
        end_markers: Sequence[str] = (),
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
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

    def poll(
        self,
        state: Any,
        now: datetime,
        *,
        closed: Collection[str] = (),
        settle: timedelta | None = None,
    ) -> Poll:
        """New or changed files since `state`.

        `settle` (the daemon's periodic rescan): a file modified less than `settle` ago may
        still be being written, so it waits for the next scan, unless inotify reported it
        `closed` after writing (IN_CLOSE_WRITE) or moved into the folder (IN_MOVED_TO).
        """
        known: dict[str, list[Any]] = dict((state or {}).get("files", {}))
        recent_ns = (now - settle).timestamp() * 1e9 if settle else None
        seen: dict[str, list[Any]] = {}
        items: list[RawItem] = []
        try:
            entries = sorted(os.scandir(self.path), key=lambda e: e.name)
        except OSError as e:
            raise SourceError(self.id, f"cannot list folder {self.path}: {e.strerror}") from e
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
            if recent_ns is not None and info.st_mtime_ns > recent_ns and entry.name not in closed:
                if previous:
                    seen[entry.name] = previous
                continue  # still settling: read at the next scan or on its close event
            record = self._read(entry.name, info, previous, now)
            if record is None:
                continue
            fingerprint, item = record
            seen[entry.name] = fingerprint
            if item is not None:
                items.append(item)
        return Poll(items=tuple(items), state={"files": seen})

    def watch(self) -> AsyncIterator[set[str]] | None:
        """Names of files closed after writing or moved into the folder, in batches.

        None where inotify is unavailable (not Linux): the daemon then relies on rescans with
        a settle delay. The daemon rescans the folder for each batch, so fingerprints and
        dedupe stay in one place (`poll`).
        """
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
        return self._watch(inotify)

    async def _watch(self, inotify: Any) -> AsyncIterator[set[str]]:
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
