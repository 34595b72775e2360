"""Sources in `monitor.toml`: `[[sources]]` of any type, and `[[feeds]]`/`[[folders]]`, the
same table with `type` implied. Owns the lifecycle keys every source has; all other keys of
a table are the type's own options, declared and checked by the plugin class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeAlias

from monitor.config.keys import (
    DURATION,
    SOURCE_ID,
    STRINGS,
    Type,
    at_least,
    keys_of,
    load_keys,
    one_of,
    required,
    setting,
)
from monitor.config.options import make_plugin
from monitor.config.toml import Collector, array_of_tables, key_path
from monitor.plugins import SOURCES, Source

# Table name → the type it implies (None: the table says). Also the order of
# `Settings.sources`: folders, then feeds, then [[sources]], each in file order.
SOURCE_TABLES: dict[str, str | None] = {"folders": "folder", "feeds": "feed", "sources": None}


def _type_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError('required: the source type, e.g. "feed"')
    return value


def _instance_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be an instance name (see --instance)")
    return value


@dataclass(frozen=True)
class SourceSettings:
    """One source of any type: a [[sources]] table, or the [[feeds]]/[[folders]] shorthand."""

    id: str = field(metadata=required(SOURCE_ID, "letters a-z, digits and '-'; unique"))
    # The entry-point name in monitor.sources ("feed", "folder", third-party).
    type: str = field(metadata=required(Type("type", _type_name), 'the source type, e.g. "feed"'))
    source: Source  # the plugin instance, built from the type's own options
    interval: timedelta = field(
        metadata=required(
            DURATION,
            "time between polls",
            check=at_least(timedelta(seconds=1), "must be at least 1s"),
            default_from="the type's default_interval, else [defaults] poll_interval",
        )
    )
    tags: tuple[str, ...] = setting(STRINGS, "labels for the topics' `tags` filter", ())
    # Only the instance of this name polls it (a folder on one machine's local disk).
    instance: str | None = setting(
        Type("instance name", _instance_name), "the only instance that polls it", None
    )
    # "skip": the backlog found at a new source's first poll is stored, not alerted.
    first_poll: str = setting(
        one_of("skip", "alert", message='must be "skip" (store the backlog silently) or "alert"'),
        '"skip" or "alert" the items of the first poll',
        "alert",
        default_from="the type's default_first_poll",
    )
    # Items published longer ago are stored, never alerted.
    max_age: timedelta | None = setting(DURATION, "older items are stored, not alerted", None)
    # Failing this long: one source.failing notice.
    broken_after: timedelta = setting(
        DURATION,
        "failing this long sends one source.failing notice",
        timedelta(days=1),
        default_from="[defaults] broken_after",
    )


# The old names, kept as aliases: a feed or a folder is a source like any other.
FeedSettings: TypeAlias = SourceSettings
FolderSettings: TypeAlias = SourceSettings

LIFECYCLE_KEYS = keys_of(SourceSettings)
_LIFECYCLE = tuple(k.name for k in LIFECYCLE_KEYS)


def load_sources(
    raw: Mapping[str, Any],
    base: Path,
    poll_interval: timedelta,
    broken_after: timedelta,
    out: Collector,
) -> list[SourceSettings]:
    """Every source of the three tables, in `SOURCE_TABLES` order; ids unique across them.
    `poll_interval` and `broken_after` are `[defaults]`, for every type."""
    result: list[SourceSettings] = []
    seen: dict[str, str] = {}  # id → the table that has it, e.g. "feeds[0]"
    for name, implied in SOURCE_TABLES.items():
        if name not in raw:
            continue
        for index, table in enumerate(array_of_tables(raw[name], name, out)):
            key: list[str | int] = [name, index]
            if implied is not None:
                if table.get("type", implied) != implied:
                    out.add(
                        [*key, "type"],
                        f'is "{implied}" in [[{name}]] (or leave it out): a source of '
                        "another type is a [[sources]] table",
                    )
                    continue
                table = {**table, "type": implied}
            before = len(out.problems)
            values = load_keys(table, LIFECYCLE_KEYS, key, out, extra=True)
            source_id = values.get("id")
            if source_id is None:
                continue
            if source_id in seen:
                out.add(
                    [*key, "id"],
                    f"duplicate source id {source_id!r}: also {seen[source_id]} "
                    "(folders, feeds and sources share ids)",
                )
                continue
            seen[source_id] = key_path(key)
            if "type" not in values:
                continue
            options = {k: v for k, v in table.items() if k not in _LIFECYCLE}
            instance = make_plugin(
                SOURCES, values["type"], Source, source_id, options, base, key, out, _LIFECYCLE
            )
            if not isinstance(instance, Source) or len(out.problems) > before:
                continue
            # Type-specific defaults are the class's; config code knows no type by name.
            cls = type(instance)
            values.setdefault("interval", cls.default_interval or poll_interval)
            values.setdefault("first_poll", cls.default_first_poll)
            values.setdefault("broken_after", broken_after)
            result.append(SourceSettings(source=instance, **values))
    return result


def source_ids(raw: Mapping[str, Any]) -> set[str]:
    """Every source id the config names, valid or not (a broken source is reported once)."""
    return {
        table["id"]
        for name in SOURCE_TABLES
        if isinstance(raw.get(name), list)
        for table in raw[name]
        if isinstance(table, dict) and isinstance(table.get("id"), str)
    }
