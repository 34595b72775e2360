"""Fetch, parse and extract one feed URL in a fresh process; print one JSON line:
{"seconds": wall time of the fetch+parse+extract, "rss_growth": peak RSS growth in bytes,
"outcome": ..., "reason": ..., "items": n, "crash": exception or null}.

Used by tests/hostile/test_corpus.py so that time and memory bounds are measured per fetch,
apart from the test runner. Loopback only: the URL comes from the test's own server.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from datetime import UTC, datetime


def peak() -> int:
    """Peak RSS of this process in bytes. VmHWM belongs to this address space; ru_maxrss would
    carry over the parent's peak across fork + exec (a large pytest process)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main() -> None:
    url, deadline = sys.argv[1], float(sys.argv[2])
    from monitor.errors import ExtractError
    from monitor.extract import extract
    from monitor.sources.feed import FeedSource, parse_feed
    from monitor.sources.http import Fetcher, FetchLimits

    # Warm up every lazy import and cache so that only the hostile fetch is measured.
    warm = b'<rss version="2.0"><channel><item><title>w</title><description>x</description></item></channel></rss>'
    parse_feed(warm, {}, "http://127.0.0.1/")
    now = datetime.now(UTC)
    source = FeedSource("probe", url=url, allow_private_network=True)
    source.fetcher = Fetcher(FetchLimits(deadline=deadline))
    baseline = peak()
    started = time.monotonic()
    crash = None
    outcome = reason = None
    items = 0
    try:

        async def go() -> object:
            try:
                return await source.poll(None, now)
            finally:
                await source.fetcher.aclose()  # type: ignore[union-attr]

        poll = asyncio.run(go())
        outcome, reason = poll.outcome.value, poll.reason  # type: ignore[attr-defined]
        for item in poll.items:  # type: ignore[attr-defined]
            try:
                extract(item)
                items += 1
            except ExtractError:
                pass
    except Exception as e:  # the measurement must report, not die
        crash = f"{type(e).__name__}: {e}"[:500]
    seconds = time.monotonic() - started
    print(json.dumps({"seconds": round(seconds, 3), "rss_growth": max(0, peak() - baseline),
                      "outcome": outcome, "reason": reason, "items": items, "crash": crash}))  # fmt: skip


if __name__ == "__main__":
    main()
