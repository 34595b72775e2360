"""The watchlist editor (`[http] allow_edit = true`, always behind the token).

Preview: the edited text, validated exactly as a reload would, runs over the stored articles
of the last `[http] preview_days` (at most PREVIEW_ARTICLES, PREVIEW_SECONDS) in a worker
thread, one preview at a time, cancellable; per topic it shows the alerts the edit would add
and those it would no longer give, against the running watchlist.

Save: only a valid text, only if the file on disk is still the one the editor loaded (same
SHA-256; otherwise the page shows the difference), written atomically (a temporary file in
the target's folder, fsync, rename; the mode kept; a symlink written through to its target),
then the daemon reloads and the page shows the result.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from monitor.config import load_watchlist, watchlist_unwritable
from monitor.errors import ConfigError, Problem
from monitor.match import Matcher
from monitor.models import Article, Watchlist
from monitor.store import Store
from monitor.web.context import Web
from monitor.web.pages import Forbidden, form, render

PREVIEW_ARTICLES = 50_000
PREVIEW_SECONDS = 30.0
EXAMPLES = 20  # articles listed per topic and direction
MAX_TEXT = 1_000_000  # characters of a watchlist

_COLUMN = re.compile(r"column (\d+)")


@dataclass(frozen=True)
class Issue:
    """A validation problem as the editor shows it: line and column when known."""

    line: int | None
    column: int | None
    key: str
    message: str


@dataclass
class TopicChange:
    title: str
    added: list[Article] = field(default_factory=list)
    removed: list[Article] = field(default_factory=list)
    added_count: int = 0
    removed_count: int = 0


@dataclass
class Preview:
    scanned: int = 0
    stopped: str = ""  # why it stopped before the end: limit, time, cancelled
    topics: dict[str, TopicChange] = field(default_factory=dict)
    seconds: float = 0.0


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate(web: Web, text: str) -> tuple[Watchlist | None, list[Issue]]:
    """Validate the text as the running daemon would load it (same notifier and source
    names); the problems with line and column."""
    settings = web.settings
    target = settings.watchlist_path
    with tempfile.TemporaryDirectory(prefix="monitor-edit-") as folder:
        path = Path(folder) / target.name
        path.write_text(text, encoding="utf-8")
        known = {s.id for s in settings.sources} | set(settings.database_sources or ())
        try:
            watchlist = load_watchlist(
                path,
                notifiers={n.name for n in settings.notifiers},
                sources=known if settings.database_sources is not None else None,
            )
        except ConfigError as e:
            return None, [_issue(p) for p in e.problems]
    return watchlist, []


def _issue(problem: Problem) -> Issue:
    column = _COLUMN.search(problem.message)
    return Issue(problem.line, int(column[1]) if column else None, problem.key, problem.message)


def run_preview(
    store: Store,
    running: Watchlist,
    edited: Watchlist,
    tags: Mapping[str, tuple[str, ...]],
    since: Any,
    cancel: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> Preview:
    """Both watchlists over the stored articles since `since`: what changes, per topic."""
    old, new = Matcher(running), Matcher(edited)
    titles = {t.id: t.title for t in (*running.topics, *edited.topics)}
    preview = Preview()
    start = clock()
    for _id, article, _alerted in store.iter_articles(since):
        if cancel.is_set():
            preview.stopped = "cancelled"
            break
        if preview.scanned >= PREVIEW_ARTICLES:
            preview.stopped = f"stopped at {PREVIEW_ARTICLES:,} articles"
            break
        if clock() - start > PREVIEW_SECONDS:
            preview.stopped = f"stopped after {PREVIEW_SECONDS:g} s"
            break
        preview.scanned += 1
        source_tags = tags.get(article.source, ())
        before = {
            m.topic_id
            for m in old.match(article.title, article.text, source=article.source, tags=source_tags)
        }
        after = {
            m.topic_id
            for m in new.match(article.title, article.text, source=article.source, tags=source_tags)
        }
        for topic_id in after - before:
            change = preview.topics.setdefault(topic_id, TopicChange(titles[topic_id]))
            change.added_count += 1
            if len(change.added) < EXAMPLES:
                change.added.append(article)
        for topic_id in before - after:
            change = preview.topics.setdefault(topic_id, TopicChange(titles[topic_id]))
            change.removed_count += 1
            if len(change.removed) < EXAMPLES:
                change.removed.append(article)
    preview.seconds = clock() - start
    return preview


def write_atomically(path: Path, text: str) -> None:
    """Temporary file in the target's folder, fsync, rename: a reader (the daemon's reload)
    sees the old file or the new, never half of one. A symlink is written through to its
    target (the link stays); the file's mode is kept."""
    target = Path(os.path.realpath(path))
    mode = target.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- routes --------------------------------------------------------------------------------


async def page(web: Web, request: Request) -> Response:
    text = await web.run(_read, web.settings.watchlist_path)
    return await _render(web, request, text=text, loaded=sha256(text))


UNWRITABLE = (
    "This watchlist cannot be saved from here: {problem}. Preview works; to save, make the "
    'folder writable by the daemon (README, "Watchlist editor", has the systemd drop-in).'
)


async def preview(web: Web, request: Request) -> Response:
    fields = await form(web, request)
    if fields.get("action") == "cancel":
        web.preview_cancel.set()
        return await _render(
            web, request, text=fields.get("text", ""), loaded=fields.get("loaded", ""),
            message="the running preview was asked to stop",
        )  # fmt: skip
    text, loaded = _edited(fields)
    watchlist, issues = await web.run(validate, web, text)
    if watchlist is None:
        return await _render(web, request, 422, text=text, loaded=loaded, issues=issues)
    if web.preview_lock.locked():
        return await _render(
            web, request, 409, text=text, loaded=loaded,
            message="another preview is running: wait for it, or cancel it",
        )  # fmt: skip
    async with web.preview_lock:
        web.preview_cancel.clear()
        since = web.app.clock() - timedelta(days=web.settings.http.preview_days)
        result = await web.run(
            run_preview, web.app.store, web.settings.watchlist, watchlist,
            dict(web.app.pipeline.tags), since, web.preview_cancel,
        )  # fmt: skip
    return await _render(web, request, text=text, loaded=loaded, preview=result)


async def save(web: Web, request: Request) -> Response:
    fields = await form(web, request)
    text, loaded = _edited(fields)
    watchlist, issues = await web.run(validate, web, text)
    if watchlist is None:
        return await _render(web, request, 422, text=text, loaded=loaded, issues=issues,
                             message="not saved: the watchlist has errors")  # fmt: skip
    path = web.settings.watchlist_path
    if await web.run(watchlist_unwritable, path) is not None:
        return await _render(web, request, 403, text=text, loaded=loaded,
                             message="not saved: the daemon cannot write the file")  # fmt: skip
    on_disk = await web.run(_read, path)
    if sha256(on_disk) != loaded:
        diff = "".join(
            difflib.unified_diff(
                on_disk.splitlines(keepends=True), text.splitlines(keepends=True),
                "on disk now", "your edit",
            )
        )  # fmt: skip
        return await _render(
            web, request, 409, text=text, loaded=loaded, diff=diff,
            message="not saved: the file changed on disk since you loaded it. The difference "
            "from the file on disk to your edit is below; reload the page to start from the "
            "file as it is now.",
        )  # fmt: skip
    try:
        await web.run(write_atomically, path, text)
    except OSError as e:
        return await _render(web, request, 500, text=text, loaded=loaded,
                             message=f"not saved: cannot write {path}: {e.strerror}")  # fmt: skip
    reloaded = await web.reload() if web.reload is not None else None
    result = web.reload_result() if reloaded is not None else "no daemon to reload"
    return await _render(web, request, text=text, loaded=sha256(text), saved=True, reload=result)


def _edited(fields: dict[str, str]) -> tuple[str, str]:
    text = fields.get("text", "").replace("\r\n", "\n")
    if len(text) > MAX_TEXT:
        raise Forbidden(f"the watchlist is longer than {MAX_TEXT:,} characters")
    return text, fields.get("loaded", "")


async def _render(web: Web, request: Request, status: int = 200, **values: Any) -> Response:
    """The editor's page; it says up front when Save cannot work (asked at every page: a few
    system calls, and the folder's permissions may change while the daemon runs)."""
    values.setdefault("issues", [])
    path = web.settings.watchlist_path
    problem = await web.run(watchlist_unwritable, path)
    return render(
        web, request, "watchlist.html", status, title="watchlist",
        path=str(path), preview_days=web.settings.http.preview_days,
        reload_result=web.reload_result(),
        unwritable=UNWRITABLE.format(problem=problem) if problem else None, **values,
    )  # fmt: skip
