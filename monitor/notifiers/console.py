"""Console notifier: one human-readable block per alert on standard output (or error)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from monitor.errors import NotifyError
from monitor.models import Delivery
from monitor.notifiers.payload import also_line, by_story, iso_utc
from monitor.plugins import Notifier
from monitor.text import one_line


class ConsoleNotifier(Notifier):
    """Prints alerts for a person watching the terminal; `make run` uses it."""

    batch_sends = True

    def __init__(self, name: str, *, stream: str = "stdout") -> None:
        super().__init__(name)
        if stream not in ("stdout", "stderr"):
            raise ValueError("stream: must be 'stdout' or 'stderr'")
        self.stream = stream

    def target(self) -> str:
        return self.stream

    def send(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        out: TextIO = sys.stdout if self.stream == "stdout" else sys.stderr
        try:
            out.write(render_digest(deliveries))
            out.flush()
        except OSError as e:  # a closed pipe or a full disk behind a redirect
            raise NotifyError(self.name, f"cannot write to {self.stream}: {e}") from e


def render_digest(deliveries: Sequence[Delivery]) -> str:
    """The blocks of a send: a near-duplicate story once, its other alerts as `also:` lines."""
    by_id = {d.alert.id: d for d in deliveries}
    blocks = []
    for lead, *others in by_story([d.alert for d in deliveries]):
        block = render(by_id[lead.id])
        if others:
            extra = "".join(f"   {one_line(also_line(o))}\n" for o in others)
            block = block[:-1] + extra + "\n"
        blocks.append(block)
    return "".join(blocks)


def render(delivery: Delivery) -> str:
    """The text block of one alert. Article fields are plain, one-line text already."""
    alert = delivery.alert
    article = alert.article
    lines = [
        f"== {alert.topic.title} [{alert.topic.id}]: {article.title}",
        f"   source: {article.source}  location: {article.location}",
    ]
    if article.url:
        lines.append(f"   url: {article.url}")
    if article.published:
        lines.append(f"   published: {iso_utc(article.published)}")
    lines.append(f"   matched: {', '.join(alert.matched)}  found: {', '.join(alert.found)}")
    lines.append(f"   {alert.snippet}")
    lines.append(f"   id: {alert.id}")
    return "\n".join(lines) + "\n\n"
