"""Log line formats: text (journald-aware) and JSON, one line per event.

Only formats records; `cli` installs the handler. Imports nothing of monitor.

    text     2026-11-25T16:48:47.949Z INFO monitor.app polled feed=dw status=200 new=1
    journal  <6>INFO monitor.app polled feed=dw status=200 new=1   (stderr is the journal)
    json     {"time": "…Z", "level": "INFO", "logger": "monitor.app", "message": "polled …",
              "event": "polled", "feed": "dw", "status": 200, "new": 1}
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any

FORMATS = ("text", "json")
# sd-daemon(3): a "<N>" prefix sets the syslog priority of a line written to the journal.
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6}
_DEBUG_PRIORITY = 7
# key=value, the value bare or as Python's repr of a string ('…' or "…", as %r writes it).
_PAIR = re.compile(r"""(?<!\S)([A-Za-z_][\w.]*)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)""")
_INT = re.compile(r"-?\d+\Z")
_RESERVED = frozenset({"time", "level", "logger", "message", "event", "exception"})


def priority(levelno: int) -> int:
    """The syslog priority of a Python log level (journalctl -p err shows 3 and below)."""
    for level, value in sorted(_PRIORITY.items(), reverse=True):
        if levelno >= level:
            return value
    return _DEBUG_PRIORITY


def stderr_is_journal(environ: Mapping[str, str] | None = None, fd: int = 2) -> bool:
    """True when `fd` is the stream systemd connected to the journal.

    systemd.exec(5): $JOURNAL_STREAM holds "device:inode" of that stream; comparing it with
    fstat() tells a child whose stderr was redirected elsewhere from one writing to journald.
    """
    env = os.environ if environ is None else environ
    device, _sep, inode = env.get("JOURNAL_STREAM", "").partition(":")
    try:
        info = os.fstat(fd)
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (OSError, ValueError):
        return False


def parse_pairs(message: str) -> tuple[str, dict[str, Any]]:
    """The event (the words before the first key=value) and the pairs, typed: integers as
    numbers, quoted values unquoted. A key used twice keeps its first value."""
    first = _PAIR.search(message)
    event = (message[: first.start()] if first else message).strip()
    fields: dict[str, Any] = {}
    for key, raw in _PAIR.findall(message):
        if key in fields:
            continue
        value: Any = raw
        if raw[:1] in ("'", '"'):
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                value = raw
        elif _INT.match(raw):
            value = int(raw)
        fields[key] = value
    return event, fields


class TextFormatter(logging.Formatter):
    """`time level logger message`; for the journal, `<N>level logger message` on every line
    (journald stamps the time itself, and a traceback keeps the priority of its record)."""

    def __init__(self, *, journal: bool = False) -> None:
        if journal:
            super().__init__("%(levelname)s %(name)s %(message)s")
        else:
            super().__init__(
                "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S"
            )
        self.converter = time.gmtime
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.journal:
            return text
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in text.splitlines())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, event and the message's pairs.

    `journal`: each line also gets the `<N>` priority prefix, which journald strips."""

    def __init__(self, *, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        event, pairs = parse_pairs(message)
        created = time.gmtime(record.created)
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "event": event,
        }
        out.update((k, v) for k, v in pairs.items() if k not in _RESERVED)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        line = json.dumps(out, ensure_ascii=False, default=str)
        return f"<{priority(record.levelno)}>{line}" if self.journal else line


def make_formatter(
    fmt: str, *, environ: Mapping[str, str] | None = None, fd: int = 2
) -> logging.Formatter:
    """The formatter for `--log-format` (`text` or `json`), journald-aware."""
    journal = stderr_is_journal(environ, fd)
    if fmt == "json":
        return JsonFormatter(journal=journal)
    return TextFormatter(journal=journal)
