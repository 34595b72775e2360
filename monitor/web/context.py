"""What the pages and the API read: the running app's store and settings, the health rule,
and the request's authentication. Store calls go through `Web.run` (a worker thread): the
daemon's event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from starlette.requests import Request

from monitor.app import App
from monitor.config import HttpSettings, Settings, parse_listen
from monitor.metrics import Health
from monitor.web.security import Signer, SignInLimit, allowed_hosts, is_loopback

T = TypeVar("T")


class BadRequest(Exception):
    """A parameter the client got wrong: 400 with this message."""


@dataclass
class Web:
    """The web page's view of a running daemon (or of an `App` in tests)."""

    app: App
    health: Health
    # The daemon's reload (SIGHUP's): the editor's save reports its result.
    reload: Callable[[], Awaitable[bool]] | None = None
    reload_result: Callable[[], str] = lambda: "not reloaded"
    wall_clock: Callable[[], float] = time.time  # session cookies expire by it
    signin_limit: SignInLimit = field(default_factory=SignInLimit)
    # The editor's preview: one at a time, and the flag that cancels the running one.
    preview_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    preview_cancel: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        # The address bound at start: `listen` takes a restart (the daemon's reload says so).
        http = self.settings.http
        self.host, self.port = parse_listen(http.listen) if http.listen else ("127.0.0.1", 0)
        self.loopback = is_loopback(self.host)
        self._http: HttpSettings | None = None
        self._signer = Signer(http.token)
        self._hosts: set[str] = set()

    @property
    def settings(self) -> Settings:
        return self.app.settings  # swapped on reload

    def _follow_reload(self) -> None:
        """Derive the signer and the Host list from the live `[http]` settings, again after a
        reload changed them: a new token revokes every session and feed key at once."""
        http = self.settings.http
        if http is self._http:
            return
        if http.token != self._signer.token:
            self._signer = Signer(http.token)
        self._hosts = allowed_hosts(self.host, self.port, http.hosts, http.public_url)
        self._http = http

    @property
    def signer(self) -> Signer:
        self._follow_reload()
        return self._signer

    @property
    def hosts(self) -> set[str]:
        self._follow_reload()
        return self._hosts

    @property
    def mode(self) -> str:
        """ "open": loopback without token, every page served to whoever reaches it; "token":
        sign in, Bearer or a feed key; "closed": not loopback and no token, only /healthz and
        /metrics are served."""
        if self.settings.http.token:
            return "token"
        return "open" if self.loopback else "closed"

    def base_url(self) -> str:
        """Absolute links: `[http] public_url`, else the listen address; never `Host`."""
        if self.settings.http.public_url:
            return self.settings.http.public_url
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}"

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(function, *args, **kwargs)


def encode_cursor(created_at: datetime, alert_id: str) -> str:
    raw = f"{created_at.isoformat()}|{alert_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, alert_id = raw.split("|", 1)
        when = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("invalid cursor: pass back the next_cursor of a page as it is") from None
    if when.tzinfo is None:
        raise BadRequest("invalid cursor: pass back the next_cursor of a page as it is")
    return when, alert_id


def query_limit(request: Request, default: int, most: int) -> int:
    value = request.query_params.get("limit", "")
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise BadRequest(f"limit must be an integer from 1 to {most}")
    return int(value)


def query_instant(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name, "")
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{name} must be an ISO 8601 date-time such as 2026-12-01T08:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (Z or +08:00)")
    return when
