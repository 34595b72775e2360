"""Retention: blank old article texts and delete old sent deliveries (`[retention]`), delete
the band keys of story roots older than the near-duplicate window; and the backfill of
near-duplicate signatures after the upgrade (`[dedupe]`).

Shared by the daemon's daily job and `monitor db prune`; the store does the deleting, this
module only decides what `[retention]` asks for and logs the result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config import DedupeSettings, RetentionSettings
from monitor.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneReport:
    texts: int = 0  # article texts blanked
    deliveries: int = 0  # sent deliveries deleted
    ran: bool = False  # False: `[retention]` sets no limit
    band_keys: int = 0  # near-duplicate index rows of roots older than the window deleted


def prune(
    store: Store,
    retention: RetentionSettings,
    now: datetime,
    *,
    near_window: timedelta | None = None,
) -> PruneReport:
    """Blank old article texts and delete old sent deliveries, then checkpoint the WAL; with
    `near_window` (near-duplicate detection on), first delete the band keys of story roots
    older than it, whatever `[retention]` says (no lookup can return them).

    Hashes stay, so a pruned article is still recognised as a duplicate; pending and dead
    deliveries, and the texts they still need, are never touched.
    """
    started = time.monotonic()
    bands = store.prune_band_keys(now - near_window) if near_window is not None else 0
    if bands:
        log.info("pruned band_keys=%d ms=%d", bands, (time.monotonic() - started) * 1000)
    if retention.article_text is None and retention.deliveries is None:
        return PruneReport(band_keys=bands)
    started = time.monotonic()
    texts = deliveries = 0
    if retention.article_text is not None:
        texts = store.prune_article_text(now - retention.article_text)
    if retention.deliveries is not None:
        deliveries = store.prune_deliveries(now - retention.deliveries)
    store.checkpoint()
    log.info(
        "pruned texts=%d deliveries=%d ms=%d",
        texts, deliveries, (time.monotonic() - started) * 1000,
    )  # fmt: skip
    return PruneReport(texts, deliveries, ran=True, band_keys=bands)


def backfill(
    store: Store, dedupe: DedupeSettings, now: datetime, *, batches: int | None = None
) -> int:
    """Signatures for the articles stored within `window` before near-duplicate detection
    (each the root of its own story), in batches of 200 (short transactions); `batches`:
    at most that many (the daemon's background job runs one at a time). Returns how many
    articles were judged; resumable, as each batch commits on its own."""
    total = 0
    done = 0
    started = time.monotonic()
    while batches is None or done < batches:
        judged = store.backfill_signatures(now - dedupe.window)
        done += 1
        total += judged
        if judged == 0:
            break
    if total:
        log.info("backfilled signatures=%d ms=%d", total, (time.monotonic() - started) * 1000)
    return total
