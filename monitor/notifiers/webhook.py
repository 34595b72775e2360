"""Webhook notifier: signed POSTs following the Standard Webhooks spec, or Slack/Discord bodies.

Owns the envelope, the signature and the classification of every HTTP outcome. Must not follow
redirects (RELIABILITY.md F7, WH-4) or put feed data into the webhook-id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from monitor.errors import NotifyError
from monitor.models import Delivery
from monitor.notifiers.payload import alert_object, digest_id, iso_utc, notice_object
from monitor.plugins import Notifier
from monitor.retry_after import parse_retry_after

log = logging.getLogger(__name__)

MAX_BODY = 20_000  # bytes; Standard Webhooks recommends payloads under 20 KB
PRESETS = ("slack", "discord")
TRANSIENT_STATUS = (408, 425, 429)
RESERVED_HEADERS = ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature")
_ERROR_BODY = 512  # bytes of a failed response kept for the reason


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError if malformed (WH-10, SEC-5)."""
    if not secret.startswith("whsec_"):
        raise ValueError("secret: must look like whsec_<base64 of 24 to 64 random bytes>")
    try:
        key = base64.b64decode(secret[len("whsec_") :], validate=True)
    except binascii.Error as e:
        raise ValueError("secret: the part after whsec_ is not valid base64") from e
    if not 24 <= len(key) <= 64:
        raise ValueError(f"secret: must hold 24 to 64 bytes, this one holds {len(key)}")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` (Standard Webhooks)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookNotifier(Notifier):
    """POSTs each delivery (a digest: as few POSTs of at most 20 KB as it takes) to `url`."""

    def __init__(
        self,
        name: str,
        *,
        url: str,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: timedelta = timedelta(seconds=15),
        preset: str | None = None,
    ) -> None:
        super().__init__(name)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url: must be an http:// or https:// URL")
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"preset: must be one of {', '.join(PRESETS)}")
        if secret is None and preset is None:
            raise ValueError("secret: required (whsec_…) unless a preset is set")
        self._key = decode_secret(secret) if secret is not None else None
        for header in headers or {}:
            if header.lower() in RESERVED_HEADERS:
                raise ValueError(f"headers: {header!r} is set by monitor")
        if timeout <= timedelta(0):
            raise ValueError("timeout: must be positive")
        self.url = url
        self.preset = preset
        self.headers = dict(headers or {})
        self.timeout = timeout.total_seconds()
        self._client: httpx.Client | None = None

    def target(self) -> str:
        parts = urlsplit(self.url)  # path and query may hold tokens (Slack, Discord)
        shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        return shown + ("/…" if parts.path not in ("", "/") or parts.query else "/")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- bodies -------------------------------------------------------------------------

    def requests(self, deliveries: Sequence[Delivery], now: datetime) -> list[tuple[str, bytes]]:
        """(webhook-id, body) for each POST this send makes."""
        timestamp = iso_utc(now)
        if self.preset is not None:
            message_id = deliveries[0].id if len(deliveries) == 1 else digest_id(
                [d.id for d in deliveries]
            )  # fmt: skip
            return [(message_id, _dumps(self._chat_body(deliveries)))]
        if len(deliveries) == 1 and deliveries[0].notice is not None:
            notice = notice_object(deliveries[0].notice)
            envelope = {"type": notice["type"], "timestamp": timestamp, "data": notice}
            return [(deliveries[0].id, _dumps(envelope))]
        if len(deliveries) == 1:
            data = alert_object(deliveries[0].alert)
            envelope = {"type": "alert.created", "timestamp": timestamp, "data": data}
            return [(deliveries[0].id, _dumps(envelope))]
        # A digest: pack alerts into bodies of at most MAX_BODY bytes, in order.
        chunks: list[list[Delivery]] = []
        size = 0
        overhead = len(_dumps({"type": "alert.digest", "timestamp": timestamp,
                               "data": {"alerts": []}}))  # fmt: skip
        for delivery in deliveries:
            item = len(_dumps(alert_object(delivery.alert))) + 1
            if chunks and size + item <= MAX_BODY:
                chunks[-1].append(delivery)
                size += item
            else:
                chunks.append([delivery])
                size = overhead + item
        out = []
        for chunk in chunks:
            envelope = {
                "type": "alert.digest",
                "timestamp": timestamp,
                "data": {"alerts": [alert_object(d.alert) for d in chunk]},
            }
            out.append((digest_id([d.id for d in chunk]), _dumps(envelope)))
        return out

    def _chat_body(self, deliveries: Sequence[Delivery]) -> dict[str, Any]:
        # Slack reads `<…>` as links and mentions (`<!channel>`) and asks for &, <, > to be
        # escaped in text; Discord mentions are disabled by allowed_mentions instead.
        escape = _slack_escape if self.preset == "slack" else str
        lines = []
        for d in deliveries:
            article = d.alert.article
            link = f" {article.url}" if article.url else ""
            lines.append(escape(f"[{d.alert.topic.title}] {article.title}{link}"))
        text = "\n".join(lines)
        if self.preset == "discord":
            return {"content": text[:2000], "allowed_mentions": {"parse": []}}
        return {"text": text[:39_000]}

    # --- sending ------------------------------------------------------------------------

    def send(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        try:
            requests = self.requests(deliveries, now)
        except (ValueError, UnicodeError) as e:  # e.g. a lone surrogate: a poison alert (DL-9)
            raise NotifyError(
                self.name, f"cannot render body: {type(e).__name__}: {e}", permanent=True
            ) from e
        for message_id, body in requests:
            self._post(message_id, body, now)

    def _post(self, message_id: str, body: bytes, now: datetime) -> None:
        headers = {**self.headers, "content-type": "application/json"}
        if self._key is not None:
            timestamp = int(now.timestamp())  # fresh per attempt: `now` is the attempt's time
            headers["webhook-id"] = message_id
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = sign(self._key, message_id, timestamp, body)
        if self._client is None:
            # follow_redirects=False is httpx's default; say it anyway (WH-4).
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        try:
            with self._client.stream("POST", self.url, content=body, headers=headers) as response:
                detail = b""
                if not response.is_success:
                    for chunk in response.iter_raw():  # bounded: a reason, not the whole body
                        detail += chunk
                        if len(detail) >= _ERROR_BODY:
                            break
        except httpx.TimeoutException as e:
            raise NotifyError(self.name, f"timed out after {self.timeout:g}s: {e!r}") from e
        except httpx.HTTPError as e:
            raise NotifyError(self.name, f"request failed: {type(e).__name__}: {e}") from e
        self._classify(response, detail, now)

    def _classify(self, response: httpx.Response, detail: bytes, now: datetime) -> None:
        """2xx sent; 3xx/408/425/429/5xx retry; 410 disables; other 4xx permanent."""
        status = response.status_code
        if 200 <= status < 300:
            return
        text = detail[:_ERROR_BODY].decode("utf-8", "replace").strip()
        reason = f"HTTP {status}" + (f": {text[:200]!r}" if text else "")
        if 300 <= status < 400:
            location = response.headers.get("location", "?")
            raise NotifyError(self.name, f"HTTP {status} redirect to {location} not followed")
        if status == 410:
            raise NotifyError(
                self.name, f"{reason}: the receiver is gone", permanent=True,
                disable=True,
            )  # fmt: skip
        wait = parse_retry_after(response.headers.get("retry-after"), now)
        if status in TRANSIENT_STATUS or status >= 500:
            raise NotifyError(self.name, reason, retry_after=wait)
        raise NotifyError(self.name, reason, permanent=True)
