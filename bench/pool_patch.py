"""Bench-only experiment for issue 3: parse + extract + hash in a process pool.

`bench/poll.py --pool N` applies this in the monitor process before `make_app`; monitor's code
is not changed. What moves to N worker processes, per feed with a 200 answer: the body hash,
feedparser (`FeedSource._classify`) and `extract` (bs4, NFKC, OpenCC, content hash) of every
entry. What stays in the monitor process: fetching, matching (alert mode), the store, logging.
The pool is started and warmed (imports, OpenCC tables) before the timed polls, as a
long-running daemon would.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import monitor.pipeline
from monitor.errors import ExtractError
from monitor.extract import extract
from monitor.models import Article, Outcome, Poll, RawItem
from monitor.sources.feed import FeedSource
from monitor.sources.http import Fetcher, FetchError, FetchResult

_POOL: ProcessPoolExecutor | None = None
_DONE: dict[tuple[str, str], Article | tuple[str, str]] = {}
_extract = extract


def _classify_and_extract(
    source_id: str, url: str, max_entries: int, result: FetchResult, state: Any, now: datetime
) -> tuple[Poll, list[Article | tuple[str, str]]]:
    """In a worker: what `FeedSource._classify` does, then `extract` of each item."""
    poll = FeedSource(source_id, url=url, max_entries=max_entries)._classify(result, state, now)
    articles: list[Article | tuple[str, str]] = []  # (location, reason): ExtractError
    for item in poll.items:
        try:
            articles.append(extract(item))
        except ExtractError as e:
            articles.append((e.location, e.reason))
    return poll, articles


def _warm() -> None:
    from monitor.text import normalize

    normalize("預熱")


async def _poll(self: FeedSource, state: Any, now: datetime) -> Poll:
    """`FeedSource.poll` with the CPU part in the pool."""
    state = dict(state or {})
    if state.get("config_url") != self.url:
        state = {"config_url": self.url}
    url = state.get("url") or self.url
    fetcher = self.fetcher or Fetcher()
    try:
        result = await fetcher.fetch(
            url,
            headers=self.headers,
            etag=state.get("etag"),
            last_modified=state.get("last_modified"),
            allow_private_network=self.allow_private_network,
            now=now,
        )
    except FetchError as e:
        retry = now + e.retry_after if e.retry_after else None
        return Poll((), state, Outcome.FAILED, e.reason, not_before=retry)
    if result.status != 200:  # 304s, errors: nothing to parse
        return self._classify(result, state, now)
    assert _POOL is not None
    poll, articles = await asyncio.get_running_loop().run_in_executor(
        _POOL, _classify_and_extract, self.id, self.url, self.max_entries, result, state, now
    )
    for item, article in zip(poll.items, articles, strict=True):
        _DONE[(item.source, item.location)] = article
    return poll


def _extract_done(item: RawItem) -> Article:
    done = _DONE.pop((item.source, item.location), None)
    if done is None:
        return _extract(item)
    if isinstance(done, tuple):
        raise ExtractError(*done)
    return done


def apply(workers: int) -> None:
    global _POOL
    _POOL = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
    for future in [_POOL.submit(_warm) for _ in range(workers * 2)]:
        future.result()
    FeedSource.poll = _poll  # type: ignore[method-assign]
    monitor.pipeline.extract = _extract_done  # type: ignore[attr-defined]


def workers_usage() -> tuple[float, float]:
    """CPU seconds (user+sys) and summed peak RSS (MiB) of the live pool workers, from /proc."""
    if _POOL is None:
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = rss = 0.0
    for pid in list(_POOL._processes):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu += (int(fields[11]) + int(fields[12])) / ticks
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss += int(line.split()[1]) / 1024
    return cpu, rss
