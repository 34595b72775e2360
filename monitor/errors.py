"""The exception tree of monitor. Third-party errors are wrapped at the boundary (`raise … from e`).

MonitorError
├── ConfigError        config or watchlist invalid; carries every problem found
├── ExtractError       one raw item cannot become an article (empty, binary, undecodable)
├── SourceError        a source failed as a whole (folder missing, feed unreachable)
├── NotifyError        one send failed; permanent or retryable, maybe after `retry_after`
└── StoreError         the database refused (schema too new, migration failed)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


class MonitorError(Exception):
    """Base of every error monitor raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file: where (file, key path, line if known) and why."""

    file: str
    key: str
    message: str
    line: int | None = None
    column: int | None = None  # 1-based, when the problem has an exact place on its line

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.line and self.column:
            where += f":{self.column}"
        key = f" [{self.key}]" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(MonitorError):
    """The config or the watchlist is invalid; `problems` lists all of them at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ExtractError(MonitorError):
    """A raw item cannot become an article; the item is skipped with one log line."""

    def __init__(self, location: str, reason: str) -> None:
        self.location = location
        self.reason = reason
        super().__init__(f"{location}: {reason}")


class SourceError(MonitorError):
    """A source failed as a whole; the other sources carry on."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"source {source}: {reason}")


class NotifyError(MonitorError):
    """A send failed. `permanent` means retrying cannot help; `retry_after` is the server's wish.

    `disable` means the destination itself is gone (HTTP 410): delivery stops for the whole
    notifier, deliveries stay pending, until an operator runs `monitor notifiers enable`.
    """

    def __init__(
        self,
        notifier: str,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: timedelta | None = None,
        disable: bool = False,
    ) -> None:
        self.notifier = notifier
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.disable = disable
        super().__init__(f"notifier {notifier}: {reason}")


class StoreError(MonitorError):
    """The database cannot be used as asked (unreachable, schema newer than this code)."""
