"""The extension points: the `Source` and `Notifier` interfaces and the entry-point loader.

Built-ins are registered in our own pyproject.toml exactly like third-party plugins, so a
package adds a notifier or a source with no change to monitor. A plugin sees only this module,
`monitor.models` and `monitor.errors`. Uses importlib.metadata only (and only for a name that
is not built in): no other monitor import.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NewType, TypeVar

from monitor.models import Delivery, Poll, RawItem

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

SOURCES = "monitor.sources"
NOTIFIERS = "monitor.notifiers"

T = TypeVar("T")

# The annotation of an option that is a size: config takes bytes or a unit ("10MiB") for it.
Bytes = NewType("Bytes", int)


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


@dataclass(frozen=True)
class SourceResources:
    """What the process shares between its sources: one HTTP client (`monitor.sources.http.
    Fetcher`, with the global and per-host limits) and a process pool for CPU-bound parsing.
    Either may be None (a one-shot command, a feedless config)."""

    fetcher: Any = None
    executor: Executor | None = None
    # What the pipeline does next with a source's items in the worker processes: given the
    # source's id, a picklable function of the items (or None). A source that parses in
    # `executor` may apply it in the same job and return its result as `Poll.prepared`.
    preparer: Callable[[str], Callable[[Sequence[RawItem]], Any] | None] | None = None


class Source(ABC):
    """Produces raw items. The constructor's keyword arguments are its config options.

    The lifecycle, the same for every source: the daemon claims the source (a lease), calls
    `poll(state, now)` with the state the previous poll returned, ingests the items, then
    records the new state and health. `poll` reports failures in `Poll.outcome` (FAILED,
    GONE) with a reason, never by raising; it may be `async def`, a plain `def` runs in a
    worker thread. Constructors validate options (raise `ValueError` naming the key) and do
    no I/O: they run at config load, also for `monitor check`.
    """

    # True: its items are worth parsing and extracting in worker processes (a feed: ~2 ms
    # of feedparser each); the app starts the pool only when a configured source says so.
    parses_in_workers: ClassVar[bool] = False
    # Lifecycle defaults of the type, used when its table does not set `first_poll` or
    # `interval`: config code knows no type by name. "skip": the backlog found at a new
    # source's first poll is stored, not alerted. None interval: `[defaults] poll_interval`.
    default_first_poll: ClassVar[str] = "alert"
    default_interval: ClassVar[timedelta | None] = None

    def __init__(self, id: str) -> None:
        self.id = id

    @abstractmethod
    def poll(self, state: Any, now: datetime) -> Poll | Awaitable[Poll]:
        """New items since `state`, the state for next time, and what the daemon must act on."""

    def watch(self) -> AsyncIterator[Any] | None:
        """Push-capable sources return an async iterator of change notices; the daemon polls
        the source at once for each, and still polls on schedule. What a notice must tell
        that poll travels inside the source (or its state), never as extra `poll` arguments.
        Raise `SourceError` when the watch cannot be set up; rescans go on.
        """
        return None

    @property
    def pushes(self) -> bool:
        """Whether this type of source can push notices (it overrides `watch`): the daemon
        sets up watches for those only, so 100,000 feeds cost no task each at start and on
        every reload."""
        return type(self).watch is not Source.watch

    def carry_over(self, previous: Source) -> bool:
        """A reload replaced `previous` (same id) by this source. True: the watch set up by
        `previous.watch()` serves this source too (it takes over what the watch keeps for
        the next poll), so the daemon keeps it; False (default): the watch is restarted."""
        return False

    def use(self, resources: SourceResources) -> None:  # noqa: B027 - optional hook
        """Take the process's shared resources before polls start (and again after a
        reload); a source that needs none ignores them."""

    def target(self) -> str:
        """What this source reads (a URL, a path), for status and `sync`; never a secret."""
        return ""


class PluginError(LookupError):
    """No plugin of that name, or it is not a subclass of the interface."""


# The built-in plugins, as pyproject.toml registers them (tests/test_startup.py keeps the two
# equal), found without scanning the installed distributions: that scan reads the metadata
# of every one of them, once per group (~7 ms of every start in a venv of 90, for names known
# in advance). A built-in name always means the built-in class: an installed distribution
# cannot take over "feed" or "email".
BUILT_IN: dict[str, dict[str, str]] = {
    SOURCES: {
        "folder": "monitor.sources.folder:FolderSource",
        "feed": "monitor.sources.feed:FeedSource",
    },
    NOTIFIERS: {
        "console": "monitor.notifiers.console:ConsoleNotifier",
        "jsonl": "monitor.notifiers.jsonl:JsonlNotifier",
        "webhook": "monitor.notifiers.webhook:WebhookNotifier",
        "apprise": "monitor.notifiers.apprise:AppriseNotifier",
        "email": "monitor.notifiers.email:EmailNotifier",
    },
}


@functools.cache
def _entry_points(group: str) -> dict[str, EntryPoint]:
    """Name → entry point in `group`, from one scan per process: `entry_points()` reads every
    installed distribution's metadata, far too slow to repeat for each of 10,000 feeds."""
    from importlib.metadata import entry_points

    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)  # the first registration wins, as it always has
    return found


def forget_entry_points() -> None:
    """Scan again on the next look-up (after installing a distribution in this process)."""
    _entry_points.cache_clear()
    _loaded.cache_clear()


def available(group: str) -> list[str]:
    """Names registered in `group` (built-in or installed), sorted."""
    return sorted(set(BUILT_IN.get(group, {})) | set(_entry_points(group)))


@functools.cache
def _loaded(group: str, name: str) -> object:
    """What the plugin `name` of `group` names, loaded once per process: a config of 10,000
    feeds asks for the same class 10,000 times, and `EntryPoint.load` parses its value and
    imports the module again on each call."""
    built_in = BUILT_IN.get(group, {}).get(name)
    if built_in is not None:
        module, _, attribute = built_in.partition(":")
        return getattr(importlib.import_module(module), attribute)
    ep = _entry_points(group).get(name)
    if ep is None:
        known = ", ".join(available(group)) or "none"
        raise PluginError(f"unknown type {name!r} (installed: {known})")
    return ep.load()


def load_plugin(group: str, name: str, base: type[T]) -> type[T]:
    """The class registered as `name` in `group`, checked to implement `base`."""
    loaded = _loaded(group, name)
    if not (inspect.isclass(loaded) and issubclass(loaded, base)):
        raise PluginError(f"plugin {name!r} in {group} is not a {base.__name__} subclass")
    return loaded
