"""Composition root: builds store, sources, notifiers, pipeline and delivery from settings.

The only module that knows every class, and (with `daemon`) the only one that reads the real
clock: everything below receives `now`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.config import FolderSettings, Settings
from monitor.delivery import Deliverer, DeliveryReport
from monitor.errors import ExtractError, NotifyError, SourceError
from monitor.extract import extract
from monitor.match import Matcher, Verdict, find_warnings
from monitor.models import (
    Alert,
    Article,
    Delivery,
    DeliveryStatus,
    Poll,
    TopicRef,
    Watchlist,
)
from monitor.pipeline import IngestReport, Pipeline, alert_id, delivery_id
from monitor.plugins import Notifier
from monitor.sources.folder import FolderSource
from monitor.store import Store
from monitor.text import content_hash

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunReport:
    """One pass over every source and the due deliveries (`monitor run --once`)."""

    ingest: IngestReport = field(default_factory=IngestReport)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    failed_sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exit status 0: no source failed as a whole, no delivery failed in this pass."""
        return not self.failed_sources and not self.delivery.failed and not self.delivery.dead


class App:
    """A configured monitor: what `run --once` and the daemon drive."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        pipeline: Pipeline,
        deliverer: Deliverer,
        folders: Sequence[FolderSettings],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.deliverer = deliverer
        self.folders = tuple(folders)
        self.clock = clock

    def start(self) -> None:
        """Apply pending migrations (under the store's lock) before anything else runs."""
        self.store.upgrade()

    def poll(self, folder: FolderSettings) -> IngestReport:
        """Poll one source and ingest what it found; `SourceError` if it failed as a whole."""
        now = self.clock()
        started = time.monotonic()
        state = self.store.load_state(folder.id)
        result: Any = folder.source.poll(state, now)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        assert isinstance(result, Poll)
        report = self.pipeline.ingest_poll(folder.id, result, now)
        log.info(
            "polled source=%s items=%d new=%d duplicates=%d skipped=%d alerts=%d ms=%d",
            folder.id, len(result.items), report.new, report.duplicates, report.skipped,
            report.alerts, (time.monotonic() - started) * 1000,
        )  # fmt: skip
        return report

    def deliver(self, *, retry_now: bool = False) -> DeliveryReport:
        return self.deliverer.deliver_due(self.clock(), retry_now=retry_now)

    def run_once(self, *, retry_now: bool = False) -> RunReport:
        """Poll every source once, then deliver what is due."""
        report = RunReport()
        for folder in self.folders:
            try:
                report.ingest.add(self.poll(folder))
            except SourceError as e:
                log.error("poll failed source=%s reason=%r", folder.id, e.reason)
                report.failed_sources.append(folder.id)
        report.delivery = self.deliver(retry_now=retry_now)
        return report

    def close(self) -> None:
        for notifier in self.deliverer.notifiers.values():
            notifier.close()
        self.store.close()


def make_app(
    settings: Settings,
    *,
    now: Callable[[], datetime] = utc_now,
    notifiers: Mapping[str, Notifier] | None = None,
    store: Store | None = None,
) -> App:
    """Build an `App`; tests pass their own clock, notifiers or store."""
    if notifiers is None:
        notifiers = {n.name: n.notifier for n in settings.notifiers}
    store = store or Store.open(settings.database)
    pipeline = Pipeline(store, Matcher(settings.watchlist), list(notifiers))
    digests = {n.name: n.digest for n in settings.notifiers if n.digest is not None}
    deliverer = Deliverer(store, notifiers, settings.delivery, digests=digests)
    return App(settings, store, pipeline, deliverer, settings.folders, now)


async def _await(result: Any) -> Any:
    return await result


# --- explain -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Explained:
    """`monitor explain` for one file: the article (or why there is none) and every verdict."""

    path: Path
    article: Article | None
    error: str | None
    verdicts: tuple[Verdict, ...]


def explain_files(
    paths: Sequence[Path], watchlist: Watchlist, folders: Sequence[FolderSettings] = ()
) -> list[Explained]:
    """Parse and match files exactly as the folder source and pipeline would; writes nothing.

    A file inside a configured folder uses that folder's options (end markers); any other
    file uses the options of the first folder, if there is one.
    """
    matcher = Matcher(watchlist)
    results = []
    for path in paths:
        folder = _folder_for(path, folders)
        source = folder.source if folder else FolderSource("explain", path=path.parent)
        assert isinstance(source, FolderSource)
        try:
            item = source.read_file(path, utc_now())
            article = extract(item)
        except (ExtractError, SourceError) as e:
            results.append(Explained(path, None, str(e), ()))
            continue
        verdicts = tuple(matcher.explain(article.title, article.text))
        results.append(Explained(path, article, None, verdicts))
    return results


def _folder_for(path: Path, folders: Sequence[FolderSettings]) -> FolderSettings | None:
    resolved = path.resolve().parent
    for folder in folders:
        if isinstance(folder.source, FolderSource) and folder.source.path.resolve() == resolved:
            return folder
    return folders[0] if folders else None


def watchlist_warnings(watchlist: Watchlist) -> list[str]:
    return find_warnings(watchlist)


# --- notifiers test ----------------------------------------------------------------------

SAMPLE_TEXT = (
    "（monitor 測試）這是一則示例警報，用來檢查通知設定。北約秘書長週二表示，"
    "This is a sample alert sent by `monitor notifiers test` to check a notifier's settings."
)


def sample_delivery(notifier: str, now: datetime) -> Delivery:
    """A fixed sample alert for `monitor notifiers test`; ids derived exactly as in the pipeline."""
    article = Article(
        source="monitor",
        location="sample-alert.txt",
        url="https://example.org/monitor/sample-alert",
        guid=None,
        title="示例警報：北約秘書長訪問東京 (monitor sample alert)",
        text=SAMPLE_TEXT,
        published=now,
        content_hash=content_hash(SAMPLE_TEXT),
    )
    topic = TopicRef("monitor-test", "monitor test")
    alert = Alert(
        id=alert_id(article.content_hash, topic.id),
        topic=topic,
        article=article,
        matched=("北約",),
        found=("北約",),
        snippet=SAMPLE_TEXT[:200],
        created_at=now,
    )
    return Delivery(
        id=delivery_id(alert.id, notifier),
        alert=alert,
        notifier=notifier,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
    )


def try_notifier(notifier: Notifier, now: datetime) -> None:
    """Send the sample alert through `notifier`; raises `NotifyError` with the exact failure."""
    try:
        result = notifier.send([sample_delivery(notifier.name, now)], now)
        if inspect.isawaitable(result):
            asyncio.run(_await(result))
    except NotifyError:
        raise
    except Exception as e:  # a per-notifier send: the one place failures are contained
        raise NotifyError(notifier.name, f"{type(e).__name__}: {e}") from e
