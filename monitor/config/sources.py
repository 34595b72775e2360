"""Sources in `monitor.toml`: `[[sources]]` of any type, and `[[feeds]]`/`[[folders]]`, the
same table with `type` implied. Owns the lifecycle keys every source has; all other keys of
a table are the type's own options, declared and checked by the plugin class.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

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
from monitor.config.toml import Collector, array_of_tables, check_keys, key_path
from monitor.errors import ConfigError
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
            built = _build(table, values, base, poll_interval, broken_after, key, out, before)
            if built is not None:
                result.append(built)
    return result


def _build(
    table: Mapping[str, Any],
    values: dict[str, Any],
    base: Path,
    poll_interval: timedelta,
    broken_after: timedelta,
    key: list[str | int],
    out: Collector,
    before: int,
) -> SourceSettings | None:
    """The plugin instance from the table's other keys, and the settings around it; None
    when a problem was found in this table (those from index `before` on)."""
    if "type" not in values:
        return None
    options = {k: v for k, v in table.items() if k not in _LIFECYCLE}
    instance = make_plugin(
        SOURCES, values["type"], Source, values["id"], options, base, key, out, _LIFECYCLE
    )
    if not isinstance(instance, Source) or len(out.problems) > before:
        return None
    # Type-specific defaults are the class's; config code knows no type by name.
    cls = type(instance)
    values.setdefault("interval", cls.default_interval or poll_interval)
    values.setdefault("first_poll", cls.default_first_poll)
    values.setdefault("broken_after", broken_after)
    return SourceSettings(source=instance, **values)


# --- feeds kept in the database (`monitor feeds add`) ----------------------------------------

# The keys a database feed has (the `options` JSON of its row, spelled as in [[feeds]]).
# `headers` stays TOML-only: its values may be secret references, which belong in the
# config file and its environment, never in database rows.
DATABASE_FEED_KEYS = ("url", "interval", "tags", "first_poll", "max_age", "allow_private_network")
DATABASE = Path("<database>")  # the "file" of a database feed's problems
_SLUG = re.compile(r"[^a-z0-9]+")
SLUG_LENGTH = 60


def load_database_feed(
    source_id: str, options: Mapping[str, Any], poll_interval: timedelta, broken_after: timedelta
) -> SourceSettings:
    """A database feed's settings, checked by the same declarations and constructor as a
    [[feeds]] table (so the messages are the same); `ConfigError` lists the problems, each
    keyed by its option ("interval", "url", "id"). Defaults come from `[defaults]` and the
    feed type, as for a table: a changed `[defaults] poll_interval` applies to both."""
    out = Collector(DATABASE, "")
    check_keys(options, DATABASE_FEED_KEYS, [], out)
    table = {**options, "id": source_id, "type": "feed"}
    before = len(out.problems)
    values = load_keys(table, LIFECYCLE_KEYS, [], out, extra=True)
    # An invalid id still lets the URL be checked (all problems at once), under a stand-in.
    values.setdefault("id", "feed")
    built = _build(table, values, Path.cwd(), poll_interval, broken_after, [], out, before)
    if built is None or out.problems:
        raise ConfigError(out.problems)
    return built


def feed_id_for(url: str) -> str:
    """The id `monitor feeds add` gives a URL without `--id`: the host (without a leading
    "www.") and the path, lowercased, every run of characters other than a-z and 0-9 turned
    into one "-", at most 60 characters; "feed" if nothing is left.
    `https://rss.dw.com/rdf/rss-chi-all` → `rss-dw-com-rdf-rss-chi-all`."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    slug = _SLUG.sub("-", f"{host}{parts.path}".lower()).strip("-")
    return slug[:SLUG_LENGTH].rstrip("-") or "feed"


def database_conflicts(
    raw: Mapping[str, Any], database_ids: Collection[str], out: Collector
) -> None:
    """Report each source table whose id is also an active database feed: one id, one
    place (the problem names the table and line, and the database)."""
    for name in SOURCE_TABLES:
        if not isinstance(raw.get(name), list):
            continue
        for index, table in enumerate(raw[name]):
            if isinstance(table, dict) and table.get("id") in database_ids:
                source_id = table["id"]
                out.add(
                    [name, index, "id"],
                    f"source id {source_id!r} is also a feed in the database (monitor feeds "
                    f"add): define it in one place: delete this table, or run `monitor feeds "
                    f"remove {source_id}`",
                )


def source_ids(raw: Mapping[str, Any]) -> set[str]:
    """Every source id the config names, valid or not (a broken source is reported once)."""
    return {
        table["id"]
        for name in SOURCE_TABLES
        if isinstance(raw.get(name), list)
        for table in raw[name]
        if isinstance(table, dict) and isinstance(table.get("id"), str)
    }
