"""The extension points: the `Source` and `Notifier` interfaces and the entry-point loader.

Built-ins are registered in our own pyproject.toml exactly like third-party plugins, so a
package adds a notifier or a source with no change to monitor. A plugin sees only this module,
`monitor.models` and `monitor.errors`. Uses importlib.metadata only: no other monitor import.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, ClassVar, TypeVar

from monitor.models import Delivery, Poll

SOURCES = "monitor.sources"
NOTIFIERS = "monitor.notifiers"

T = TypeVar("T")


class Notifier(ABC):
    """Sends deliveries somewhere. The constructor's keyword arguments are its config options.

    Constructors validate options (raise `ValueError` naming the key) and do no I/O: they run
    at config load, also for `monitor check`. `send` returns on success and raises
    `NotifyError` on failure, never a flag; it may be `async def`.
    """

    # True: `send` may get several independent deliveries at once (not a digest: each is
    # transmitted as if alone). For local sinks (a file, the console), where a call per
    # delivery is pure overhead. Network notifiers keep one transmission per delivery.
    batch_sends: ClassVar[bool] = False

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def send(self, deliveries: Sequence[Delivery], now: datetime) -> Awaitable[None] | None:
        """Transmit one delivery (or one digest of several) stamped with `now`."""

    def close(self) -> None:  # noqa: B027 - optional hook, most notifiers hold nothing
        """Release files or connections; called once at shutdown."""

    def target(self) -> str:
        """Where this notifier sends, for `monitor notifiers list`; never includes a secret."""
        return ""


class Source(ABC):
    """Produces raw items. `poll` gets back the opaque state it returned last time."""

    def __init__(self, id: str) -> None:
        self.id = id

    @abstractmethod
    def poll(self, state: Any, now: datetime) -> Poll | Awaitable[Poll]:
        """New items since `state`, the state for next time, and what the daemon must act on."""

    def watch(self) -> AsyncIterator[Any] | None:
        """Push-capable sources return an async iterator of change notices; the daemon polls
        the source at once for each (so state stays in `poll`), and still polls on schedule.
        """
        return None


class PluginError(LookupError):
    """No plugin of that name, or it is not a subclass of the interface."""


def available(group: str) -> list[str]:
    """Names registered in `group`, sorted."""
    return sorted(ep.name for ep in entry_points(group=group))


def load_plugin(group: str, name: str, base: type[T]) -> type[T]:
    """The class registered as `name` in `group`, checked to implement `base`."""
    matches = [ep for ep in entry_points(group=group) if ep.name == name]
    if not matches:
        known = ", ".join(available(group)) or "none"
        raise PluginError(f"unknown type {name!r} (installed: {known})")
    loaded = matches[0].load()
    if not (inspect.isclass(loaded) and issubclass(loaded, base)):
        raise PluginError(f"plugin {name!r} in {group} is not a {base.__name__} subclass")
    return loaded
