"""`monitor.toml` → `Settings`: the settings tables, notifiers, and the whole-file loader.

Each settings dataclass declares its keys as fields (`keys.setting`); the loader reads those
declarations, never a key's name. Validated whole: every problem is collected, then raised.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from monitor.config.keys import (
    COUNT,
    COUNT_OR_ZERO,
    DURATION,
    DURATIONS,
    FLAG,
    FRACTION,
    OPTIONAL_DURATION,
    POSITIVE,
    SIZE,
    SOURCE_ID,
    STRING,
    STRINGS,
    TOP_LEVEL_KEYS,
    Type,
    at_least,
    keys_of,
    load_keys,
    one_of,
    required,
    setting,
)
from monitor.config.options import make_plugin
from monitor.config.sources import (
    SourceSettings,
    database_conflicts,
    load_sources,
    source_ids,
)
from monitor.config.toml import Collector, array_of_tables, check_keys, open_toml
from monitor.config.values import Secret, parse_duration, parse_listen, resolve_secrets
from monitor.config.watchlist import load_watchlist
from monitor.errors import ConfigError, Problem
from monitor.models import Watchlist
from monitor.plugins import NOTIFIERS, Notifier

DEFAULT_CONFIG = Path("config/monitor.toml")
DEFAULT_RETRY_SCHEDULE = ("5s", "5m", "30m", "2h", "5h", "10h", "14h", "20h", "24h")
_URL_PASSWORD = re.compile(r"://[^/@]*:[^/@]*@")
_LOG_LEVEL = one_of(
    "debug", "info", "warning", "error", message="must be one of debug, info, warning, error"
)
T = TypeVar("T")


@dataclass(frozen=True)
class DefaultsSettings:
    poll_interval: timedelta = setting(
        DURATION, "a source's interval when neither it nor its type sets one", timedelta(minutes=10)
    )
    max_backoff: timedelta = setting(
        DURATION, "longest wait between polls of a failing source", timedelta(hours=6)
    )
    broken_after: timedelta = setting(
        DURATION, "failing this long sends one source.failing notice", timedelta(days=1)
    )


@dataclass(frozen=True)
class FetchSettings:
    concurrency: int = setting(COUNT, "feeds fetched at the same time, in all", 20)
    per_host: int = setting(COUNT, "feeds fetched at the same time from one host", 4)
    connect_timeout: timedelta = setting(DURATION, "to open a connection", timedelta(seconds=10))
    read_timeout: timedelta = setting(DURATION, "between two reads", timedelta(seconds=30))
    deadline: timedelta = setting(DURATION, "the whole fetch", timedelta(seconds=60))
    max_body: int = setting(SIZE, "largest body, after decompression", 10 * 1024 * 1024)
    max_redirects: int = setting(COUNT, "redirects followed", 5)
    user_agent: str = setting(STRING, "the User-Agent header; empty: monitor's own", "")
    workers: int = setting(
        COUNT_OR_ZERO, "processes that parse feeds; 0: one per core (≤ 4); 1: in-process", 0
    )
    workers_idle: timedelta = setting(
        DURATION, "the parse workers stop after this long without work", timedelta(minutes=2)
    )


@dataclass(frozen=True)
class DaemonSettings:
    shutdown_timeout: timedelta = setting(
        DURATION, "how long in-flight work may take on SIGTERM", timedelta(seconds=20)
    )
    instance: str = setting(STRING, "this process's name in leases; empty: host and pid", "")


def _listen(value: Any) -> str:
    text = STRING.parse(value)
    if text:
        parse_listen(text)
    return str(text)


def _public_url(value: Any) -> str:
    text = str(STRING.parse(value)).rstrip("/")
    if text and not re.match(r"\Ahttps?://[^/\s?#]+(/[^\s?#]*)?\Z", text):
        raise ValueError(
            f'expected an http(s) URL such as "https://monitor.example.org", got {text!r}'
        )
    return text


def _token(value: Any) -> str:
    if value is None:  # a secret reference that did not resolve: reported already
        return ""
    if not isinstance(value, Secret):
        raise ValueError(
            'must be a secret reference, { env = "NAME" }, { credential = "name" } or '
            '{ file = "path" }, never the token itself in this file'
        )
    if len(value.encode("utf-8")) < 32:
        raise ValueError(
            "must be at least 32 bytes (e.g. `openssl rand -base64 32`): a short token can be "
            "guessed"
        )
    return value


@dataclass(frozen=True)
class HttpSettings:
    listen: str = setting(
        Type("host:port", _listen),
        '"host:port" of the web page, API, /healthz and /metrics; empty: none',
        "",
    )
    hosts: tuple[str, ...] = setting(
        STRINGS, "more names the page may be reached by (the Host header), e.g. a proxy's", ()
    )
    public_url: str = setting(
        Type("URL", _public_url), "the page's address as users reach it, for absolute links", ""
    )
    token: str = setting(
        Type("secret", _token), "secret reference of the sign-in and API token (≥ 32 bytes)", ""
    )
    allow_edit: bool = setting(FLAG, "the watchlist editor at /watchlist (needs `token`)", False)
    preview_days: int = setting(COUNT, "the editor's preview runs over this many days", 7)


@dataclass(frozen=True)
class RetentionSettings:
    article_text: timedelta | None = setting(
        OPTIONAL_DURATION, "blank article texts first seen longer ago; empty: never", None
    )
    deliveries: timedelta | None = setting(
        OPTIONAL_DURATION, "delete sent deliveries sent longer ago; empty: never", None
    )


def _notifier_type(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError('required: the notifier type, e.g. "console"')
    return value


def _similarity(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
        raise ValueError(f"must be a number above 0 and at most 1 (e.g. 0.7), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class DedupeSettings:
    near: bool = setting(
        FLAG, "a near-duplicate of a story that matched a topic does not alert for it", True
    )
    threshold: float = setting(
        Type("similarity in (0, 1]", _similarity),
        "similarity (max of resemblance and containment) from which texts are one story",
        0.65,
    )
    window: timedelta = setting(
        DURATION,
        "how far back stories are looked for",
        timedelta(days=7),
        check=at_least(timedelta(hours=1), "must be at least 1h"),
    )


@dataclass(frozen=True)
class NotifierSettings:
    name: str = field(metadata=required(SOURCE_ID, "letters a-z, digits and '-'"))
    type: str = field(
        metadata=required(
            Type("notifier type", _notifier_type), 'the notifier type, e.g. "console"'
        )
    )
    notifier: Notifier  # the plugin instance, built from the type's own options
    # Collect deliveries and send them once per period.
    digest: timedelta | None = setting(
        DURATION,
        "send collected deliveries once per period",
        None,
        check=at_least(timedelta(minutes=1), "must be at least 1m"),
    )
    # Also receives operator notices (source.failing / recovered).
    operator: bool = setting(FLAG, "also receives operator notices", False)


@dataclass(frozen=True)
class DeliverySettings:
    retry_schedule: tuple[timedelta, ...] = setting(
        DURATIONS,
        "wait after each failed attempt; after the last the delivery is dead",
        tuple(parse_duration(d) for d in DEFAULT_RETRY_SCHEDULE),
    )
    jitter: float = setting(FRACTION, "each wait is randomised by ± this fraction", 0.2)
    batch_size: int = setting(POSITIVE, "deliveries read from the outbox per query", 100)


NOTIFIER_KEYS = keys_of(NotifierSettings)
_NOTIFIER_NAMES = tuple(k.name for k in NOTIFIER_KEYS)


@dataclass(frozen=True)
class Settings:
    path: Path
    database: str
    watchlist_path: Path
    watchlist: Watchlist
    notifiers: tuple[NotifierSettings, ...]
    delivery: DeliverySettings
    # Every source: [[folders]], then [[feeds]], then [[sources]], each in file order.
    sources: tuple[SourceSettings, ...] = ()
    log_level: str = "info"
    defaults: DefaultsSettings = DefaultsSettings()
    fetch: FetchSettings = FetchSettings()
    daemon: DaemonSettings = DaemonSettings()
    http: HttpSettings = HttpSettings()
    retention: RetentionSettings = RetentionSettings()
    dedupe: DedupeSettings = DedupeSettings()
    # The ids of the feeds kept in the database when the config was loaded (checked against
    # the tables and the topics' `sources`); None: the database was not read.
    database_sources: frozenset[str] | None = None

    @property
    def feeds(self) -> tuple[SourceSettings, ...]:
        """The sources of type "feed" (from [[feeds]] or [[sources]])."""
        return tuple(s for s in self.sources if s.type == "feed")

    @property
    def folders(self) -> tuple[SourceSettings, ...]:
        """The sources of type "folder" (from [[folders]] or [[sources]])."""
        return tuple(s for s in self.sources if s.type == "folder")

    @property
    def source_tags(self) -> dict[str, tuple[str, ...]]:
        """Source id → its tags, for the topics' `tags` filter."""
        return {s.id: s.tags for s in self.sources if s.tags}


# The tables each settings dataclass reads, by their key in monitor.toml.
SETTINGS_TABLES: dict[str, type] = {
    "defaults": DefaultsSettings,
    "fetch": FetchSettings,
    "daemon": DaemonSettings,
    "http": HttpSettings,
    "retention": RetentionSettings,
    "dedupe": DedupeSettings,
    "delivery": DeliverySettings,
}


def load_config(
    path: Path | str,
    env: Mapping[str, str] | None = None,
    *,
    database_sources: Callable[[str], frozenset[str] | None] | None = None,
) -> Settings:
    """Read and validate `monitor.toml` and the watchlist it names; `ConfigError` lists all.

    `database_sources(url)`: the ids of the feeds kept in that database (the callers that
    may open it pass `monitor.store.peek_database_sources`; config imports no store). Then a
    table with such an id is an error naming both places, and topics may name those feeds
    in `sources`; when it returns None (the database cannot be read) topics' `sources` are
    not checked at all, rather than refused for want of the database.
    """
    env = os.environ if env is None else env
    path = Path(path)
    raw, out = open_toml(path)
    problems: list[Problem] = []
    base = path.parent
    check_keys(raw, (k.name for k in TOP_LEVEL_KEYS), [], out)
    raw = resolve_secrets(raw, [], out, env)

    database = env.get("MONITOR_DATABASE_URL") or raw.get("database", "sqlite:///../var/monitor.db")
    if not isinstance(database, str) or "://" not in database:
        out.add(["database"], 'must be an SQLAlchemy URL such as "sqlite:///../var/monitor.db"')
        database = ""
    database = _resolve_sqlite_path(_normalize_postgres_url(database), base)
    if _URL_PASSWORD.search(database):
        database = Secret(database)  # repr(settings) must not show the password (SEC-3)

    log_level = "info"
    try:
        log_level = _LOG_LEVEL.parse(raw.get("log_level", "info"))
    except ValueError as e:
        out.add(["log_level"], str(e))

    notifiers = _load_notifiers(raw.get("notifiers", []), base, out)
    delivery = _load_table(raw, "delivery", DeliverySettings, out)
    defaults = _load_table(raw, "defaults", DefaultsSettings, out)
    fetch = _load_table(raw, "fetch", FetchSettings, out)
    daemon = _load_table(raw, "daemon", DaemonSettings, out)
    http = _load_table(raw, "http", HttpSettings, out)
    if http.allow_edit and not http.token:
        out.add(["http", "allow_edit"], "needs [http] token: the editor is never open to all")
    retention = _load_table(raw, "retention", RetentionSettings, out)
    dedupe = _load_table(raw, "dedupe", DedupeSettings, out)
    sources = load_sources(raw, base, defaults.poll_interval, defaults.broken_after, out)
    known: set[str] | None = source_ids(raw)
    database_ids = None
    if database_sources is not None and database:
        database_ids = database_sources(database)
        if database_ids is None:
            known = None
        else:
            database_conflicts(raw, database_ids, out)
            known = {*source_ids(raw), *database_ids}

    watchlist_value = raw.get("watchlist", "watchlist.toml")
    watchlist_path = base / str(watchlist_value)
    watchlist = Watchlist((), ())
    if not isinstance(watchlist_value, str):
        out.add(["watchlist"], "must be a file path")
    else:
        try:
            watchlist = load_watchlist(
                watchlist_path, notifiers={n.name for n in notifiers}, sources=known
            )
        except ConfigError as e:
            problems.extend(e.problems)
    problems[:0] = out.problems
    if problems:
        raise ConfigError(problems)
    return Settings(
        path=path,
        database=database,
        watchlist_path=watchlist_path,
        watchlist=watchlist,
        notifiers=tuple(notifiers),
        delivery=delivery,
        sources=tuple(sources),
        log_level=log_level,
        defaults=defaults,
        fetch=fetch,
        daemon=daemon,
        http=http,
        retention=retention,
        dedupe=dedupe,
        database_sources=database_ids,
    )


def _normalize_postgres_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _resolve_sqlite_path(url: str, base: Path) -> str:
    """Relative SQLite paths resolve against the config file's folder, like every other path."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return prefix + str((base / rest).resolve())
    return url


def _load_table(raw: Mapping[str, Any], name: str, cls: type[T], out: Collector) -> T:
    """A settings table: its keys are the fields `cls` declares (`keys.setting`)."""
    value = raw.get(name, {})
    if not isinstance(value, dict):
        out.add([name], "must be a table")
        return cls()
    return cls(**load_keys(value, keys_of(cls), [name], out))


def _load_notifiers(value: Any, base: Path, out: Collector) -> list[NotifierSettings]:
    result: list[NotifierSettings] = []
    names: set[str] = set()
    for index, table in enumerate(array_of_tables(value, "notifiers", out)):
        key: list[str | int] = ["notifiers", index]
        before = len(out.problems)
        values = load_keys(table, NOTIFIER_KEYS, key, out, extra=True)
        name = values.get("name")
        if name is None or "type" not in values:
            continue
        if name in names:
            out.add([*key, "name"], f"duplicate notifier name {name!r}")
            continue
        names.add(name)
        options = {k: v for k, v in table.items() if k not in _NOTIFIER_NAMES}
        instance = make_plugin(
            NOTIFIERS, values["type"], Notifier, name, options, base, key, out, _NOTIFIER_NAMES
        )
        if isinstance(instance, Notifier) and len(out.problems) == before:
            result.append(NotifierSettings(notifier=instance, **values))
    return result
