"""Config keys, each declared once: name, type, default, check and a one-line doc.

A settings dataclass declares its keys as fields (`setting(...)`), a table that builds no
settings object of its own as a tuple of `Key`. The loaders, the "did you mean" hints and the
README test (tests/test_docs.py) all read these declarations; nothing guesses a type from a
key's name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from monitor.config.toml import Collector, check_keys
from monitor.config.values import parse_duration, parse_instant, parse_size

_ID = re.compile(r"\A[a-z0-9][a-z0-9-]*\Z")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the key has no default: the table must give it


@dataclass(frozen=True)
class Type:
    """How a TOML value becomes a Python value: `parse` raises ValueError saying what is wrong."""

    name: str  # for humans: "duration", "size", …
    parse: Callable[[Any], Any]


@dataclass(frozen=True)
class Key:
    """One key of one table."""

    name: str
    type: Type
    default: Any = REQUIRED
    check: Callable[[Any], None] | None = None  # raises ValueError(message) on a parsed value
    doc: str = ""
    # Where the default comes from when it is not a constant (`[defaults] poll_interval`,
    # the source type's class attribute): the loader supplies it.
    default_from: str = ""

    def load(self, value: Any) -> Any:
        """The parsed and checked value; ValueError carries the message for the key."""
        parsed = self.type.parse(value)
        if self.check is not None and parsed is not None:
            self.check(parsed)
        return parsed


def setting(
    type: Type,
    doc: str,
    default: Any,
    *,
    check: Callable[[Any], None] | None = None,
    default_from: str = "",
) -> Any:
    """A dataclass field with a default that is also a config key (see `keys_of`)."""
    spec = Key("", type, default, check, doc, default_from)
    return dataclasses.field(default=default, metadata={"key": spec})


def required(
    type: Type,
    doc: str,
    *,
    check: Callable[[Any], None] | None = None,
    default_from: str = "",
) -> dict[str, Key]:
    """The metadata of a dataclass field without a default that is also a config key:
    `name: str = dataclasses.field(metadata=required(...))` (a form type checkers know)."""
    return {"key": Key("", type, REQUIRED, check, doc, default_from)}


def keys_of(cls: type) -> tuple[Key, ...]:
    """The keys a settings dataclass declares, in field order (fields that are no key, such
    as the plugin instance, are left out)."""
    return tuple(
        dataclasses.replace(f.metadata["key"], name=f.name)
        for f in dataclasses.fields(cls)
        if "key" in f.metadata
    )


def load_keys(
    table: Mapping[str, Any],
    keys: Sequence[Key],
    path: Sequence[str | int],
    out: Collector,
    *,
    extra: bool = False,
) -> dict[str, Any]:
    """The values of `keys` that `table` gives, parsed and checked; each problem is reported
    and its key left out. `extra`: other keys belong to someone else (a plugin's options)."""
    if not extra:
        check_keys(table, (k.name for k in keys), path, out)
    values: dict[str, Any] = {}
    for key in keys:
        if key.name not in table:
            if key.default is REQUIRED and not key.default_from:
                out.add([*path, key.name], f"required: {key.doc}")
            continue
        try:
            values[key.name] = key.load(table[key.name])
        except ValueError as e:
            out.add([*path, key.name], str(e))
    return values


# --- types ------------------------------------------------------------------------------


def _integer(least: int, message: str = "") -> Type:
    def parse(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(message or f"expected an integer of at least {least}, got {value!r}")
        return value

    return Type(f"integer ≥ {least}", parse)


def _size(value: Any) -> int:
    parsed = parse_size(value)
    if parsed < 1:
        raise ValueError(f"expected an integer of at least 1, got {value!r}")
    return parsed


def _optional_duration(value: Any) -> timedelta | None:
    return None if value == "" else parse_duration(value)  # "": none, as when absent


def _bool(message: str) -> Type:
    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(message.format(value=value))
        return value

    return Type("boolean", parse)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of non-empty strings")
    return tuple(value)


def _id(message: str) -> Type:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not _ID.match(value):
            raise ValueError(message)
        return value

    return Type("id", parse)


def _durations(value: Any) -> tuple[timedelta, ...]:
    if not isinstance(value, list):
        raise ValueError("must be a list of durations")
    return tuple(parse_duration(v) for v in value)


def _raw(value: Any) -> Any:
    return value


def one_of(*choices: str, message: str) -> Type:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(message)
        return str(value)

    return Type(" | ".join(choices), parse)


def at_least(least: timedelta, message: str) -> Callable[[Any], None]:
    def check(value: timedelta) -> None:
        if value < least:
            raise ValueError(message)

    return check


def _number_below_one(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError("must be a number from 0 to below 1 (0.2 = ±20 %)")
    return float(value)


DURATION = Type("duration", parse_duration)
OPTIONAL_DURATION = Type("duration or empty", _optional_duration)
DURATIONS = Type("list of durations", _durations)
SIZE = Type("size", _size)
COUNT = _integer(1)  # workers-like counts that may be 0 use `_integer(0)`
COUNT_OR_ZERO = _integer(0)
POSITIVE = _integer(1, "must be a positive integer")
FRACTION = Type("number in [0, 1)", _number_below_one)
BOOL = _bool("expected true or false, got {value!r}")
FLAG = _bool("must be true or false")
STRING = Type("string", _string)
STRINGS = Type("list of non-empty strings", _strings)
INSTANT = Type("date or date-time", parse_instant)
SOURCE_ID = _id("required: letters a-z, digits and '-'")
TOPIC_ID = _id("required: lowercase letters a-z, digits and '-'")
RAW = Type("TOML value", _raw)  # the loader checks it (terms, tables, cross references)


# --- tables that build no settings dataclass of their own --------------------------------

TOP_LEVEL_KEYS: tuple[Key, ...] = (
    Key("database", RAW, "sqlite:///../var/monitor.db", doc="SQLAlchemy URL of the store"),
    Key("watchlist", RAW, "watchlist.toml", doc="the watchlist file"),
    Key("log_level", RAW, "info", doc="debug, info, warning or error"),
    Key("defaults", RAW, {}, doc="[defaults]: defaults of every source"),
    Key("fetch", RAW, {}, doc="[fetch]: how feeds are fetched"),
    Key("daemon", RAW, {}, doc="[daemon]: process settings"),
    Key("folders", RAW, [], doc="[[folders]]: sources of type folder"),
    Key("feeds", RAW, [], doc="[[feeds]]: sources of type feed"),
    Key("sources", RAW, [], doc="[[sources]]: sources of any type"),
    Key("notifiers", RAW, [], doc="[[notifiers]]: where alerts go"),
    Key("delivery", RAW, {}, doc="[delivery]: retries of deliveries"),
    Key("http", RAW, {}, doc="[http]: /healthz and /metrics"),
    Key("retention", RAW, {}, doc="[retention]: what is pruned"),
    Key("dedupe", RAW, {}, doc="[dedupe]: near-duplicate stories"),
)

WATCHLIST_KEYS: tuple[Key, ...] = (
    Key("aliases", RAW, {}, doc="alias classes: spelling = [other spellings]"),
    Key("topics", RAW, [], doc="[[topics]]: what to watch for"),
)

TOPIC_KEYS: tuple[Key, ...] = (
    Key("id", TOPIC_ID, doc="the topic's id, unique"),
    Key("title", RAW, "", doc="shown in alerts; default: the id"),
    Key("all", RAW, (), doc="groups of terms; every group needs a hit"),
    Key("any", RAW, (), doc="terms; one hit is enough"),
    Key("none", RAW, (), doc="terms; a hit vetoes the topic"),
    Key("query", RAW, None, doc="a boolean query (AND OR NOT NEAR/n, phrases, wildcards, scopes)"),
    Key("notify", STRINGS, None, doc="notifier names; default: every notifier"),
    Key("sources", STRINGS, (), doc="source ids the topic is limited to"),
    Key("tags", STRINGS, (), doc="source tags the topic is limited to"),
    Key("fields", STRINGS, ("title", "text"), doc='["title"] or ["title", "text"]'),
    Key("min_hits", RAW, 1, doc="distinct terms and regexes that must hit"),
    Key("regex", STRINGS, (), doc="RE2 patterns, each one more `any` term"),
    Key("max_alerts_per_hour", POSITIVE, None, doc="alerts sent at once per rolling hour"),
    Key("muted_until", INSTANT, None, doc="no alerts before this instant"),
    Key(
        "near_duplicates",
        one_of("suppress", "alert", message='must be "suppress" or "alert"'),
        "suppress",
        doc="a near-duplicate of a story that matched the topic: no alert, or alert",
    ),
)

# A term with exceptions: { term = "中美", except = ["中美洲"] }
TERM_KEYS: tuple[Key, ...] = (
    Key("term", RAW, doc="the term"),
    Key("except", STRINGS, (), doc="longer spellings whose hits do not count"),
)
