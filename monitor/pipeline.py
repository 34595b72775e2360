"""The order of events for every raw item, in one place:

    source.poll ─▶ RawItem ─▶ extract ─▶ Article ─▶ match ─▶ store.add_article ─▶ (delivery)
                               │          (content     │      article + alerts + deliveries in
                               │           hash)       │      ONE transaction, only if the hash
                               ▼                       ▼      is new: the store decides what is new
                         skipped, logged        Match per topic

Persist first, notify second: nothing here talks to a notifier. Extraction and matching are
pure; this module owns ids, the choice of notifiers per topic, and the log lines.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.config import DedupeSettings
from monitor.errors import ExtractError
from monitor.match import Matcher
from monitor.metrics import Metrics
from monitor.models import Alert, Article, Match, RawItem, Topic, TopicRef, Watchlist
from monitor.near import NearCheck, Signature, Stored, signature
from monitor.prepare import MatchJob, Prepared, prepare, prepare_batch
from monitor.store import NewArticle, NewDelivery, Store

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)  # the window of `max_alerts_per_hour`


def alert_id(content_hash: str, topic_id: str) -> str:
    """`alert_` + 32 hex: the same article and topic always give the same alert."""
    digest = hashlib.sha256(f"{content_hash}\n{topic_id}".encode()).hexdigest()
    return f"alert_{digest[:32]}"


def delivery_id(alert: str, notifier: str) -> str:
    """`msg_` + 32 hex: what a receiver dedupes on (webhook-id, Message-ID)."""
    digest = hashlib.sha256(f"{alert}\n{notifier}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


@dataclass
class IngestReport:
    """What one poll (or one batch of items) did."""

    new: int = 0
    updated: int = 0  # new versions of feed entries already seen (same source and guid)
    duplicates: int = 0
    skipped: int = 0
    alerts: int = 0
    near: int = 0  # new articles found to be near-duplicates of a story's root
    suppressed: int = 0  # alerts left out: the story had matched the topic already
    skipped_reasons: list[str] = field(default_factory=list)

    def add(self, other: IngestReport) -> None:
        self.new += other.new
        self.updated += other.updated
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.alerts += other.alerts
        self.near += other.near
        self.suppressed += other.suppressed
        self.skipped_reasons.extend(other.skipped_reasons)


class Pipeline:
    """Turns raw items into stored articles, alerts and pending deliveries."""

    def __init__(
        self,
        store: Store,
        matcher: Matcher,
        notifiers: Sequence[str],
        metrics: Metrics | None = None,
        tags: Mapping[str, tuple[str, ...]] | None = None,
        near: DedupeSettings | None = None,
    ) -> None:
        self.store = store
        self.near = near  # None: no near-duplicate detection ([dedupe] near = false)
        self.metrics = metrics or Metrics()
        self.matcher = matcher  # swapped whole on reload; read once per item
        self.notifiers = tuple(notifiers)
        self.tags: dict[str, tuple[str, ...]] = dict(tags or {})  # source id → its tags
        # Worker processes for extraction (and feed parsing), shared with the sources.
        self.executor: Executor | None = None

    def set_watchlist(self, watchlist: Watchlist) -> None:
        """Compile first, then swap: no item is ever matched against half a watchlist."""
        self.matcher = Matcher(watchlist)

    def worker_preparer(self, source: str) -> Callable[[Sequence[RawItem]], Any] | None:
        """What `extract_in_workers` would run on `source`'s items, as a function a source
        may apply in the worker that parsed them (`SourceResources.preparer`): its result,
        `Poll.prepared`, is `extract_in_workers`'s, or None when that worker has not compiled
        the current watchlist (then `extract_in_workers` runs and sends it)."""
        if self.executor is None:
            return None
        job = self._match_job(self.matcher, [source])
        return functools.partial(prepare_batch, near=self.near is not None, job=job)

    def _match_job(self, matcher: Matcher, sources: Iterable[str]) -> MatchJob | None:
        """What a worker needs to match items of `sources` with `matcher` (None: no topics)."""
        if not matcher.topics:
            return None
        return MatchJob(matcher.version, {s: self.tags.get(s, ()) for s in sources})

    async def extract_in_workers(self, items: Sequence[RawItem]) -> list[Prepared | str] | None:
        """Extract, sign and match in the worker processes (`monitor.prepare`: HTML → text,
        fold, hash, signature, matching, the CPU of ingest), so the writer's thread only
        stores. None: no pool (one-process mode), `ingest_items` prepares in its thread."""
        if self.executor is None:
            return None
        loop = asyncio.get_running_loop()
        matcher = self.matcher
        job = self._match_job(matcher, {item.source for item in items})
        work = functools.partial(prepare_batch, list(items), near=self.near is not None)
        prepared = await loop.run_in_executor(self.executor, functools.partial(work, job=job))
        if prepared is None:  # that worker has not compiled this watchlist yet: send it
            assert job is not None
            job = dataclasses.replace(job, watchlist=matcher.watchlist)
            prepared = await loop.run_in_executor(self.executor, functools.partial(work, job=job))
        assert prepared is not None
        return prepared

    def ingest_items(
        self,
        items: Sequence[RawItem],
        now: datetime,
        *,
        silent: bool = False,
        alert_after: datetime | None = None,
        extracted: Sequence[Prepared | str] | None = None,
    ) -> IngestReport:
        """Ingest items in order, in one transaction (or the group commit's). `silent`: store
        without alerting (a new feed's backlog); `alert_after`: items published before it are
        stored, never alerted (`max_age`); `extracted`: the items already extracted elsewhere
        (an article, or why not).

        Extraction and matching go item by item; the store's work goes per write: the stored
        versions of all entries in one read, the articles, then all their alerts and
        deliveries. A feed that lists one entry twice is written in waves, so the second
        is stored as a new version of the first.
        """
        report = IngestReport()
        pending: list[_Pending] = []
        for index, item in enumerate(items):
            done = extracted[index] if extracted is not None else None
            prepared = self._prepare(item, now, not silent, alert_after, done)
            if isinstance(prepared, str):
                report.skipped += 1
                report.skipped_reasons.append(f"{item.location}: {prepared}")
            else:
                pending.append(prepared)
        with self.store.batch():
            for wave in _waves(pending):
                report.add(self._write(wave, now))
        return report

    def ingest(
        self,
        item: RawItem,
        now: datetime,
        *,
        alert: bool = True,
        alert_after: datetime | None = None,
        extracted: Prepared | str | None = None,
    ) -> IngestReport:
        """One item: `ingest_items` of it."""
        done = None if extracted is None else [extracted]
        return self.ingest_items(
            [item], now, silent=not alert, alert_after=alert_after, extracted=done
        )

    def _prepare(
        self,
        item: RawItem,
        now: datetime,
        alert: bool,
        alert_after: datetime | None,
        prepared: Prepared | str | None,
    ) -> _Pending | str:
        """Extract and match one item (unless a worker did: `prepared`): what writing it
        needs, or why it was skipped (logged here)."""
        matcher = self.matcher
        tags = self.tags.get(item.source, ())
        near = self.near is not None
        try:
            if isinstance(prepared, str):
                raise ExtractError(item.location, prepared)
            if prepared is None:
                # With near-duplicate detection a silent article is matched too: its story's
                # topics are recorded, so a later copy of a backlog article does not alert.
                wanted = alert or near
                prepared = prepare(item, near=near, matcher=matcher if wanted else None, tags=tags)
        except ExtractError as e:
            log.warning(
                "skipped item source=%s location=%s reason=%r",
                item.source, ascii(item.location)[1:-1], e.reason,
            )  # fmt: skip
            self.metrics.article("skipped")
            return e.reason
        article = prepared.article
        if alert_after is not None and article.published and article.published < alert_after:
            alert = False
        if not alert and not near:
            matches: list[Match] = []
        elif (
            prepared.matches is not None
            and prepared.version == matcher.version
            and prepared.tags == tags
        ):
            matches = list(prepared.matches)
        else:  # not matched, or with a watchlist (or tags) a reload has replaced since
            matches = matcher.match(article.title, article.text, source=article.source, tags=tags)
        near_check = self._near_check(article, matches, matcher, now, prepared.signature)
        return _Pending(article, matches if alert else [], near_check, matcher)

    def _write(self, wave: Sequence[_Pending], now: datetime) -> IngestReport:
        """Store a wave of articles (no two entries of one source with the same guid) and
        the alerts of those that are new."""
        report = IngestReport()
        versions = self._versions(wave)
        entries: list[NewArticle] = []
        for pending in wave:
            previous = versions.get((pending.article.source, pending.article.guid or ""))
            if previous is not None:
                # An updated entry alerts only for topics its earlier version did not match.
                pending.matches = [m for m in pending.matches if m.topic_id not in previous[1]]
                pending.previous_id = previous[0]
            entries.append(NewArticle(pending.article, pending.previous_id, pending.near))
        counts: dict[str, tuple[int, datetime | None]] = {}  # max_alerts_per_hour's, this write
        outboxes = []
        for pending, stored in zip(wave, self.store.insert_articles(entries, now), strict=True):
            article = pending.article
            if stored is None:
                report.duplicates += 1
                self.metrics.article("duplicate")
                log.debug(
                    "duplicate article source=%s location=%s hash=%s",
                    article.source, ascii(article.location)[1:-1], article.content_hash[:15],
                )  # fmt: skip
                continue
            kept = [m for m in pending.matches if m.topic_id not in stored.suppressed]
            alerts, deliveries = self.outbox_rows(article, kept, pending.matcher, now, counts)
            outboxes.append((stored.article_id, alerts, deliveries))
            self._stored(pending, stored, alerts, now, report)
        self.store.write_outbox(outboxes, now)
        return report

    def _versions(self, wave: Sequence[_Pending]) -> dict[tuple[str, str], tuple[int, set[str]]]:
        """The stored versions of the wave's feed entries, by (source, guid): one read."""
        guids: dict[str, list[str]] = {}
        for pending in wave:
            if pending.article.guid:
                guids.setdefault(pending.article.source, []).append(pending.article.guid)
        return {
            (source, guid): version
            for source, wanted in guids.items()
            for guid, version in self.store.find_versions(source, wanted).items()
        }

    def _stored(
        self,
        pending: _Pending,
        stored: Stored,
        alerts: Sequence[Alert],
        now: datetime,
        report: IngestReport,
    ) -> None:
        """Count and log a newly stored article."""
        article, previous_id = pending.article, pending.previous_id
        if previous_id is None:
            report.new += 1
        else:
            report.updated += 1
        report.alerts += len(alerts)
        topics = pending.matcher.topics
        # The alerts a copy would have made (not a backlog's, nor a muted topic's).
        suppressed = [
            m.topic_id
            for m in pending.matches
            if m.topic_id in stored.suppressed and not _muted(topics[m.topic_id], now)
        ]
        report.suppressed += len(suppressed)
        report.near += 1 if stored.near is not None else 0
        self.metrics.article("new" if previous_id is None else "updated")
        for alert_row in alerts:
            self.metrics.alert(alert_row.topic.id)
        for topic_id in suppressed:
            self.metrics.near_duplicate(topic_id)
        near_of = ""
        if stored.near is not None:
            near_of = (
                f" near_of={stored.near.content_hash[:15]}"
                f" similarity={stored.near.similarity:.2f}"
                f" suppressed={','.join(sorted(stored.suppressed)) or '-'}"
            )
        # INFO for what a reader acts on (alerts, or alerts left out as copies); a stored
        # article that alerts nobody is DEBUG: a new feed's backlog would otherwise be
        # thousands of lines, past journald's rate limit (see `polling._poll_level`).
        log.log(
            logging.INFO if alerts or suppressed else logging.DEBUG,
            "stored article source=%s location=%s hash=%s alerts=%d topics=%s%s%s",
            article.source, ascii(article.location)[1:-1], article.content_hash[:15],
            len(alerts), ",".join(a.topic.id for a in alerts) or "-",
            f" update_of={previous_id}" if previous_id else "", near_of,
        )  # fmt: skip

    def _near_check(
        self,
        article: Article,
        matches: Sequence[Match],
        matcher: Matcher,
        now: datetime,
        signed: tuple[Signature | None] | None,
    ) -> NearCheck | None:
        """What the store needs to place the article in a story (None: detection is off)."""
        if self.near is None:
            return None
        topics = matcher.topics
        matched = frozenset(m.topic_id for m in matches)
        return NearCheck(
            signature=signed[0] if signed is not None else signature(article.text),
            threshold=self.near.threshold,
            since=now - self.near.window,
            matched=matched,
            alert_anyway=frozenset(t for t in matched if topics[t].near_duplicates == "alert"),
        )

    def outbox_rows(
        self,
        article: Article,
        matches: Sequence[Match],
        matcher: Matcher,
        now: datetime,
        counts: dict[str, tuple[int, datetime | None]] | None = None,
    ) -> tuple[list[Alert], list[NewDelivery]]:
        """The alerts of `matches` (muted topics left out) and one delivery per alert and
        notifier of its topic, held back past a topic's `max_alerts_per_hour`.

        `matcher` is the one that produced the matches: a reload may swap `self.matcher`
        meanwhile, and a topic must be looked up in the watchlist that matched it. `counts`:
        the hourly counts of a write whose alerts are not inserted yet (see `_hold_until`).
        """
        counts = {} if counts is None else counts
        topics = matcher.topics
        matches = [m for m in matches if not _muted(topics[m.topic_id], now)]
        alerts = [_alert(article, m, topics[m.topic_id], now) for m in matches]
        deliveries: list[NewDelivery] = []
        for record in alerts:
            topic = topics[record.topic.id]
            hold = self._hold_until(topic, now, counts)
            for name in self._notifiers_for(topic):
                deliveries.append(NewDelivery(delivery_id(record.id, name), record.id, name, hold))
        return alerts, deliveries

    def _notifiers_for(self, topic: Topic) -> Sequence[str]:
        return self.notifiers if topic.notify is None else topic.notify

    def _hold_until(
        self, topic: Topic, now: datetime, counts: dict[str, tuple[int, datetime | None]]
    ) -> datetime | None:
        """`max_alerts_per_hour`: None if this alert may go out now, else when it may.

        Alerts past the limit are still recorded (none is dropped); their deliveries wait
        until the rolling hour that began with the topic's first alert in it is over. The
        count is the store's once per write and topic, plus this write's alerts so far
        (`counts`): they are inserted together at its end.
        """
        if topic.max_alerts_per_hour is None:
            return None
        known = counts.get(topic.id)
        count, first = known or self.store.count_alerts_since(topic.id, now - HOUR)
        counts[topic.id] = (count + 1, first or now)
        if count < topic.max_alerts_per_hour or first is None:
            return None
        until = first + HOUR
        log.info(
            "alert held topic=%s alerts_last_hour=%d limit=%d until=%s",
            topic.id, count, topic.max_alerts_per_hour, until.isoformat(timespec="seconds"),
        )  # fmt: skip
        return until


@dataclass
class _Pending:
    """An extracted, matched item waiting for its write. `matches`: those it may alert for
    (none for a silent backlog), narrowed to what a new version adds."""

    article: Article
    matches: list[Match]
    near: NearCheck | None
    matcher: Matcher  # the one that matched it: its topics are the ones to look up
    previous_id: int | None = None  # the stored version it updates


def _waves(pending: Sequence[_Pending]) -> Iterator[list[_Pending]]:
    """Consecutive runs of items without a repeated (source, guid): an entry listed twice
    starts a new wave, so its first copy is stored before the second looks up its version."""
    wave: list[_Pending] = []
    seen: set[tuple[str, str]] = set()
    for item in pending:
        key = (item.article.source, item.article.guid or "")
        if item.article.guid and key in seen:
            yield wave
            wave, seen = [], set()
        wave.append(item)
        seen.add(key)
    if wave:
        yield wave


def _alert(article: Article, match: Match, topic: Topic, now: datetime) -> Alert:
    return Alert(
        id=alert_id(article.content_hash, topic.id),
        topic=TopicRef(topic.id, topic.title),
        article=article,
        matched=match.matched,
        found=match.found,
        snippet=match.snippet,
        created_at=now,
    )


def _muted(topic: Topic, now: datetime) -> bool:
    """`muted_until`: the topic records no alert before then (its articles are still stored)."""
    if topic.muted_until is None or now >= topic.muted_until:
        return False
    log.debug("muted topic=%s until=%s", topic.id, topic.muted_until.isoformat())
    return True
