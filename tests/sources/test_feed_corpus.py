"""feedparser's own fixtures (tests/data/feedparser-corpus, BSD licence beside them) through the
feed path: parse → entries → extract. No unhandled exception, and within the PX-5 time budget.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ExtractError, SourceError
from monitor.extract import extract
from monitor.models import Outcome
from monitor.sources.feed import FeedSource
from monitor.sources.http import FetchResult

CORPUS = Path(__file__).resolve().parent.parent / "data" / "feedparser-corpus"
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_every_fixture_goes_through_the_feed_path() -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".xml", ".json", ".rdf"))
    assert len(files) > 2000
    source = FeedSource("corpus", url="https://corpus.example/feed")
    outcomes = {Outcome.OK: 0, Outcome.FAILED: 0}
    articles = skipped = 0
    slowest = (0.0, "")
    for path in files:
        body = path.read_bytes()
        content_type = "application/json" if path.suffix == ".json" else "application/xml"
        result = FetchResult(
            200, "https://corpus.example/feed", {"content-type": content_type}, body
        )
        started = time.perf_counter()
        poll = source._classify(result, {}, NOW)
        for item in poll.items:
            try:
                extract(item)
                articles += 1
            except ExtractError:
                skipped += 1
        elapsed = time.perf_counter() - started
        slowest = max(slowest, (elapsed, path.name))
        outcomes[poll.outcome] += 1
    # Nearly all fixtures are feeds; the few failures are deliberate non-feeds (empty, garbage).
    assert outcomes[Outcome.OK] > 0.9 * len(files), outcomes
    assert articles > 400  # many fixtures test channel fields and carry no entry
    assert slowest[0] < 2.0, slowest  # PX-5: ≤ 2 s per MiB, and every fixture is < 1 MiB


def test_the_memoized_base_resolution_parses_every_fixture_as_feedparser_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`feed._feedparser` caches feedparser's `make_safe_absolute_uri` (it resolves xml:base
    at every start tag): every fixture's entries, links and ids come out the same with
    feedparser's own function."""
    import feedparser.mixin
    import feedparser.urls

    from monitor.sources.feed import _feedparser, parse_feed

    _feedparser()
    assert feedparser.mixin.make_safe_absolute_uri is not feedparser.urls.make_safe_absolute_uri
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".xml", ".rdf"))
    headers = {"content-type": "application/xml"}

    def parse_all() -> list[object]:
        results: list[object] = []
        for path in files:
            try:
                results.append(parse_feed(path.read_bytes(), headers, "https://corpus.example/f"))
            except SourceError as e:
                results.append(e.reason)
        return results

    memoized = parse_all()
    with monkeypatch.context() as patch:
        patch.setattr(
            feedparser.mixin, "make_safe_absolute_uri", feedparser.urls.make_safe_absolute_uri
        )
        assert parse_all() == memoized
    assert sum(1 for r in memoized if isinstance(r, tuple) and r[0]) > 400
