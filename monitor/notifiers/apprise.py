"""Apprise notifier: a title and a plain-text body to every Apprise URL (chat, push, …).

Owns only the hand-over to the Apprise library (optional extra `monitor[apprise]`). Apprise's
own retries are off: monitor's delivery schedule is the one place that retries.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.errors import NotifyError
from monitor.models import Delivery
from monitor.notifiers.email import render_text
from monitor.plugins import Notifier
from monitor.text import one_line

log = logging.getLogger(__name__)

INSTALL_HINT = "the apprise notifier needs the Apprise library: pip install 'monitor[apprise]'"


def _apprise() -> Any:
    try:
        return importlib.import_module("apprise")
    except ImportError as e:
        raise ValueError(INSTALL_HINT) from e


class AppriseNotifier(Notifier):
    """Sends one notification per delivery (or digest) to all `urls`; any failure is retried."""

    def __init__(self, name: str, *, urls: Sequence[str]) -> None:
        super().__init__(name)
        library = _apprise()
        if not urls:
            raise ValueError("urls: at least one Apprise URL")
        # Retries off: default for every service, and an explicit ?retry= in a URL overruled.
        self._asset = library.AppriseAsset(default_service_retry=0)
        self._apprise = library.Apprise(asset=self._asset)
        self._schemes = []
        for index, url in enumerate(urls):
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            if not self._apprise.add(url):
                # The URL may hold a token: name its position and scheme, never the URL.
                raise ValueError(
                    f"urls: entry {index + 1} ({scheme}://…) is not a valid Apprise URL"
                )
            self._schemes.append(scheme)
        for service in self._apprise:
            service.retry = 0
        self._text_format = library.NotifyFormat.TEXT

    def target(self) -> str:
        return ", ".join(f"{scheme}://…" for scheme in self._schemes)

    def send(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        alerts = [d.alert for d in deliveries]
        if len(alerts) == 1:
            title = f"[monitor] {alerts[0].topic.title}: {alerts[0].article.title}"
        else:
            title = f"[monitor] {len(alerts)} alerts"
        try:
            ok = self._apprise.notify(
                body=render_text(alerts), title=one_line(title, 200), body_format=self._text_format
            )
        except Exception as e:  # Apprise's plugins raise whatever their libraries raise
            raise NotifyError(self.name, f"apprise failed: {type(e).__name__}: {e}") from e
        if not ok:
            # Apprise only says "not every service accepted it"; its log has the details.
            raise NotifyError(
                self.name,
                f"apprise reported a failure for at least one of {len(self._schemes)} urls",
            )
