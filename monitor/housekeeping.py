"""Retention: blank old article texts and delete old sent deliveries (`[retention]`).

Shared by the daemon's daily job and `monitor db prune`; the store does the deleting, this
module only decides what `[retention]` asks for and logs the result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from monitor.config import RetentionSettings
from monitor.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneReport:
    texts: int = 0  # article texts blanked
    deliveries: int = 0  # sent deliveries deleted
    ran: bool = False  # False: `[retention]` sets no limit


def prune(store: Store, retention: RetentionSettings, now: datetime) -> PruneReport:
    """Blank old article texts and delete old sent deliveries, then checkpoint the WAL.

    Hashes stay, so a pruned article is still recognised as a duplicate; pending and dead
    deliveries, and the texts they still need, are never touched.
    """
    if retention.article_text is None and retention.deliveries is None:
        return PruneReport()
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
    return PruneReport(texts, deliveries, ran=True)
