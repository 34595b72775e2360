"""What a parse worker does with a poll's items before the writer's thread sees them:
extract each one, sign it for near-duplicate detection, and match it against the watchlist.

The writer's thread (one per process) is the limit of ingest, so it should only store; and
what comes back across the process boundary is then the article, its signature and its
matches, not the folded texts that matching needs (three times the article's size).

A worker keeps the compiled watchlist it was last sent (compiling 10,000 terms takes longer
than matching a poll; sending them with every poll would cost more than matching): a job
names the watchlist by its compilation's `version`, and a worker that has not compiled it
answers None, so the pipeline sends the watchlist itself, once per worker and reload.
Everything here pickles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.errors import ExtractError
from monitor.extract import extract
from monitor.match import Matcher
from monitor.models import Article, Match, RawItem, Watchlist
from monitor.near import Signature, compute_signature


@dataclass(frozen=True)
class MatchJob:
    """Which watchlist to match with, the tags of the items' sources (the topics' `tags`
    filters), and the watchlist itself when a worker asked for it."""

    version: str
    tags: Mapping[str, tuple[str, ...]]
    watchlist: Watchlist | None = None


@dataclass(frozen=True)
class Prepared:
    """An extracted item. `signature`: a 1-tuple when signed (holding None for a text too
    short to judge), None when near-duplicate detection is off; `matches`: None when not
    matched here, else with the watchlist `version` and the source `tags` they used."""

    article: Article
    signature: tuple[Signature | None] | None = None
    matches: tuple[Match, ...] | None = None
    version: str | None = None
    tags: tuple[str, ...] = ()


# This process's compiled watchlist: (version, matcher). One per worker process.
_compiled: tuple[str, Matcher] | None = None


def prepare_batch(
    items: Sequence[RawItem], *, near: bool = False, job: MatchJob | None = None
) -> list[Prepared | str] | None:
    """Each item prepared, or the reason it could not be extracted; None: `job` names a
    watchlist this process has not compiled and did not send it (send it, then)."""
    matcher = None
    if job is not None:
        matcher = _matcher_for(job)
        if matcher is None:
            return None
    results: list[Prepared | str] = []
    for item in items:
        try:
            tags = job.tags.get(item.source, ()) if job is not None else ()
            results.append(prepare(item, near=near, matcher=matcher, tags=tags))
        except ExtractError as e:
            results.append(e.reason)
    return results


def prepare(
    item: RawItem, *, near: bool, matcher: Matcher | None, tags: Sequence[str] = ()
) -> Prepared:
    """One item: extracted (`ExtractError` if it cannot be), signed with `near`, matched
    with `matcher` (which folds the texts the content hash folded a moment ago: cached)."""
    article = extract(item)
    signature = (compute_signature(article.text),) if near else None
    if signature and signature[0] is not None:
        # Cached on the signature, so it crosses to the writer with it: the writer's thread
        # (the limit of ingest) would otherwise spend ~50 µs per article computing them.
        _ = signature[0].distinct_band_keys
    if matcher is None:
        return Prepared(article, signature)
    matches = matcher.match(article.title, article.text, source=article.source, tags=tags)
    return Prepared(article, signature, tuple(matches), matcher.version, tuple(tags))


def _matcher_for(job: MatchJob) -> Matcher | None:
    global _compiled
    if _compiled is not None and _compiled[0] == job.version:
        return _compiled[1]
    if job.watchlist is None:
        return None
    matcher = Matcher(job.watchlist)
    matcher.version = job.version  # the parent's name for it
    _compiled = (job.version, matcher)
    return matcher
