"""TOML files → typed settings: `monitor.toml` and the watchlist, validated whole before use.

Every problem is collected and reported at once with file, key path and line (tomllib gives
lines for syntax errors only, so a small locator finds the line of a key). Plugin options are
checked against the plugin's constructor (its keyword arguments are its option schema).
Secrets are references (`{ env = … }`, `{ file = … }`, `{ credential = … }`), resolved here.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import re
import stat
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import re2

from monitor.errors import ConfigError, Problem
from monitor.models import FIELDS, Topic, Watchlist
from monitor.plugins import NOTIFIERS, SOURCES, Notifier, PluginError, Source, load_plugin
from monitor.text import normalize, to_simplified

DEFAULT_CONFIG = Path("config/monitor.toml")
DEFAULT_RETRY_SCHEDULE = ("5s", "5m", "30m", "2h", "5h", "10h", "14h", "20h", "24h")
_ID = re.compile(r"\A[a-z0-9][a-z0-9-]*\Z")
_DURATION = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*\Z")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"\A\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*\Z")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 2**20,
               "GB": 10**9, "GiB": 2**30}  # fmt: skip
_SECRET_KINDS = ("env", "file", "credential")
_URL_PASSWORD = re.compile(r"://[^/@]*:[^/@]*@")
T = TypeVar("T")
_LOG_LEVELS = ("debug", "info", "warning", "error")
# The keys each table accepts (plugin tables add their constructor's keyword arguments).
TOP_LEVEL_KEYS = ("database", "watchlist", "log_level", "defaults", "fetch", "daemon",
                  "folders", "feeds", "notifiers", "delivery", "http", "retention")  # fmt: skip
FOLDER_KEYS = ("id", "interval", "instance", "tags")  # + FolderSource options
FEED_KEYS = (
    "id",
    "interval",
    "tags",
    "first_poll",
    "max_age",
    "broken_after",
)  # + FeedSource options
NOTIFIER_KEYS = ("name", "type", "digest", "operator")  # + the notifier type's options
# Options that hold credentials: only secret references are accepted (RELIABILITY.md CFG-5).
SECRET_OPTIONS = ("password", "secret")
DELIVERY_KEYS = ("retry_schedule", "jitter", "batch_size")
WATCHLIST_KEYS = ("aliases", "topics")
TERM_KEYS = ("term", "except")  # a term with exceptions: { term = "中美", except = ["中美洲"] }
TOPIC_KEYS = ("id", "title", "all", "any", "none", "notify", "sources", "tags", "fields",
              "min_hits", "regex", "max_alerts_per_hour", "muted_until")  # fmt: skip


class Secret(str):
    """A resolved secret: a plain `str` to the code that uses it, masked in any repr."""

    def __repr__(self) -> str:
        return "Secret('***')"


@dataclass(frozen=True)
class FolderSettings:
    id: str
    interval: timedelta
    source: Source
    instance: str | None = None  # scanned only by the instance of this name (local storage)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedSettings:
    id: str
    interval: timedelta
    source: Source
    tags: tuple[str, ...] = ()
    first_poll: str = "skip"  # "skip": the backlog of a new feed is stored, not alerted
    max_age: timedelta | None = None  # entries published earlier are stored, never alerted
    broken_after: timedelta = timedelta(days=1)  # failing this long: one source.failing notice


@dataclass(frozen=True)
class DefaultsSettings:
    poll_interval: timedelta = timedelta(minutes=10)
    max_backoff: timedelta = timedelta(hours=6)
    broken_after: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class FetchSettings:
    concurrency: int = 20
    per_host: int = 4
    connect_timeout: timedelta = timedelta(seconds=10)
    read_timeout: timedelta = timedelta(seconds=30)
    deadline: timedelta = timedelta(seconds=60)
    max_body: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = ""  # empty: monitor's own
    workers: int = 0  # processes that parse feeds; 0: one per core (at most 4); 1: in-process


@dataclass(frozen=True)
class DaemonSettings:
    shutdown_timeout: timedelta = timedelta(seconds=20)
    instance: str = ""  # empty: host name and process id


@dataclass(frozen=True)
class HttpSettings:
    listen: str = ""  # "host:port" of /healthz and /metrics; empty: no HTTP endpoint


@dataclass(frozen=True)
class RetentionSettings:
    article_text: timedelta | None = None  # blank article texts first seen longer ago
    deliveries: timedelta | None = None  # delete sent deliveries sent longer ago


@dataclass(frozen=True)
class NotifierSettings:
    name: str
    type: str
    notifier: Notifier
    digest: timedelta | None = None  # collect deliveries and send them once per period
    operator: bool = False  # also receives operator notices (source.failing / recovered)


@dataclass(frozen=True)
class DeliverySettings:
    retry_schedule: tuple[timedelta, ...]
    jitter: float = 0.2
    batch_size: int = 100


@dataclass(frozen=True)
class Settings:
    path: Path
    database: str
    watchlist_path: Path
    watchlist: Watchlist
    folders: tuple[FolderSettings, ...]
    notifiers: tuple[NotifierSettings, ...]
    delivery: DeliverySettings
    log_level: str = "info"
    feeds: tuple[FeedSettings, ...] = ()
    defaults: DefaultsSettings = DefaultsSettings()
    fetch: FetchSettings = FetchSettings()
    daemon: DaemonSettings = DaemonSettings()
    http: HttpSettings = HttpSettings()
    retention: RetentionSettings = RetentionSettings()

    @property
    def source_tags(self) -> dict[str, tuple[str, ...]]:
        """Source id → its tags, for the topics' `tags` filter."""
        sources: tuple[FolderSettings | FeedSettings, ...] = (*self.folders, *self.feeds)
        return {s.id: s.tags for s in sources if s.tags}


def parse_duration(value: Any) -> timedelta:
    """`"30s"`, `"10m"`, `"1h"`, `"7d"` → timedelta; bare numbers are refused (which unit?)."""
    if not isinstance(value, str):
        raise ValueError(f'expected a duration string with a unit such as "30s", got {value!r}')
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"invalid duration {value!r}: use a number and ms, s, m, h, d or w")
    return timedelta(seconds=float(m[1]) * _DURATION_UNITS[m[2]])


def parse_listen(value: str) -> tuple[str, int]:
    """`"127.0.0.1:9464"`, `"[::1]:9464"` → (host, port); ValueError says what is wrong."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'expected "host:port" such as "127.0.0.1:9464", got {value!r}')
    return host, int(port)


def parse_instant(value: Any) -> datetime:
    """A TOML date or datetime, or the same as an ISO 8601 string → UTC-aware datetime.

    A date means its midnight UTC; a date-time without an offset is taken as UTC.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f'expected a date or date-time such as "2026-12-01" or '
                f'"2026-12-01T08:00:00+08:00", got {value!r}'
            ) from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError(f'expected a date or date-time such as "2026-12-01", got {value!r}')


def parse_size(value: Any) -> int:
    """`"10MiB"`, `"512KB"` or an integer number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f'invalid size {value!r}: use bytes or a unit such as "10MiB"')
    return int(m[1]) * _SIZE_UNITS[m[2]]


class _Collector:
    """Problems found in one file, each placed on its line when the locator can find it."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.locate = _KeyLocator(text)
        self.problems: list[Problem] = []

    def add(self, key: Sequence[str | int], message: str) -> None:
        self.problems.append(
            Problem(str(self.path), _key_path(key), message, line=self.locate(key))
        )


def _key_path(key: Sequence[str | int]) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _KeyLocator:
    """Finds the line of a key path such as ("folders", 1, "interval") in TOML source text."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def __call__(self, key: Sequence[str | int]) -> int | None:
        if not key:
            return None
        start, end = 0, len(self.lines)
        rest = list(key)
        # Narrow to the table: [[name]] (nth occurrence) or [name]; else a top-level key.
        headers = [
            (i, m.group(1), m.group(2).strip().strip('"'))
            for i, line in enumerate(self.lines)
            if (m := self._HEADER.match(line))
        ]
        name = rest[0]
        if any(h[2] == name for h in headers):
            rest.pop(0)
            if rest and isinstance(rest[0], int):
                nth = int(rest.pop(0))
                found = [h for h in headers if h[2] == name and h[1] == "[["]
                if nth >= len(found):
                    return None
                start = found[nth][0]
            else:
                start = next(h[0] for h in headers if h[2] == name)
            later = [h[0] for h in headers if h[0] > start]
            end = later[0] if later else len(self.lines)
            if not rest:
                return start + 1
        elif headers:
            end = headers[0][0]
        field_name = next((str(p) for p in rest if not isinstance(p, int)), None)
        if field_name is None:
            return start + 1
        pattern = re.compile(rf"^\s*(\"{re.escape(field_name)}\"|'{re.escape(field_name)}'|"
                             rf"{re.escape(field_name)})\s*=")  # fmt: skip
        for i in range(start, end):
            if pattern.match(self.lines[i]):
                return i + 1
        return start + 1 if start else None


def _read_toml(path: Path, problems: list[Problem]) -> tuple[dict[str, Any], str] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(str(path), "", "file not found"))
        return None
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(str(path), "", f"cannot read: {e}"))
        return None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"at line (\d+)", str(e))
        problems.append(Problem(str(path), "", f"TOML syntax: {e}", line=int(m[1]) if m else None))
        return None


def _resolve_secrets(
    value: Any, key: list[str | int], out: _Collector, env: Mapping[str, str]
) -> Any:
    """Replace every `{ env|file|credential = … }` table by the secret it names."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in _SECRET_KINDS:
            kind, ref = next(iter(value.items()))
            try:
                return _read_secret(kind, ref, env)
            except ValueError as e:
                out.add(key, str(e))
                return None
        return {k: _resolve_secrets(v, [*key, k], out, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_secrets(v, [*key, i], out, env) for i, v in enumerate(value)]
    return value


def _read_secret(kind: str, ref: Any, env: Mapping[str, str]) -> Secret:
    if not isinstance(ref, str) or not ref:
        raise ValueError(f"secret reference {{ {kind} = … }} needs a non-empty string")
    if kind == "env":
        if ref not in env:
            raise ValueError(f"environment variable {ref} is not set")
        return Secret(env[ref])
    if kind == "credential":
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ValueError(
                f"credential {ref!r}: $CREDENTIALS_DIRECTORY is not set (systemd LoadCredential=)"
            )
        if "/" in ref:
            raise ValueError(f"credential {ref!r}: a name, not a path")
        path = Path(directory) / ref
    else:
        path = Path(ref)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ValueError(f"cannot read secret file {path}: {e.strerror}") from e
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        # Like ssh for private keys (RELIABILITY.md SEC-2); systemd's credentials directory
        # is private to the service already.
        if kind == "file" and mode & 0o077:
            raise ValueError(
                f"secret file {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(mode):04o}): chmod 600 it (or use {{ credential = … }})"
            )
        try:
            data = handle.read()
        except OSError as e:
            raise ValueError(f"cannot read secret file {path}: {e.strerror}") from e
    try:
        return Secret(data.decode("utf-8").rstrip("\r\n"))
    except UnicodeDecodeError as e:
        raise ValueError(f"secret file {path} is not UTF-8 text") from e


def _check_keys(
    table: Mapping[str, Any], allowed: Sequence[str], key: list[str | int], out: _Collector
) -> None:
    for name in table:
        if name not in allowed:
            hint = difflib.get_close_matches(name, allowed, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            out.add([*key, name], f"unknown key{suggestion}")


def load_config(path: Path | str, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate `monitor.toml` and the watchlist it names; `ConfigError` lists all."""
    env = os.environ if env is None else env
    path = Path(path)
    problems: list[Problem] = []
    loaded = _read_toml(path, problems)
    if loaded is None:
        raise ConfigError(problems)
    raw, text = loaded
    out = _Collector(path, text)
    base = path.parent
    _check_keys(raw, TOP_LEVEL_KEYS, [], out)
    raw = _resolve_secrets(raw, [], out, env)

    database = env.get("MONITOR_DATABASE_URL") or raw.get("database", "sqlite:///../var/monitor.db")
    if not isinstance(database, str) or "://" not in database:
        out.add(["database"], 'must be an SQLAlchemy URL such as "sqlite:///../var/monitor.db"')
        database = ""
    database = _resolve_sqlite_path(_normalize_postgres_url(database), base)
    if _URL_PASSWORD.search(database):
        database = Secret(database)  # repr(settings) must not show the password (SEC-3)

    log_level = raw.get("log_level", "info")
    if log_level not in _LOG_LEVELS:
        out.add(["log_level"], f"must be one of {', '.join(_LOG_LEVELS)}")
        log_level = "info"

    notifiers = _load_notifiers(raw.get("notifiers", []), base, out)
    folders = _load_folders(raw.get("folders", []), base, out)
    delivery = _load_delivery(raw.get("delivery", {}), out)
    defaults = _load_table(raw.get("defaults", {}), "defaults", DefaultsSettings, out)
    fetch = _load_table(raw.get("fetch", {}), "fetch", FetchSettings, out)
    daemon = _load_table(raw.get("daemon", {}), "daemon", DaemonSettings, out)
    http = _load_table(raw.get("http", {}), "http", HttpSettings, out)
    if http.listen:
        try:
            parse_listen(http.listen)
        except ValueError as e:
            out.add(["http", "listen"], str(e))
    retention = _load_table(raw.get("retention", {}), "retention", RetentionSettings, out)
    feeds = _load_feeds(raw.get("feeds", []), base, defaults, {f.id for f in folders}, out)

    watchlist_value = raw.get("watchlist", "watchlist.toml")
    watchlist_path = base / str(watchlist_value)
    watchlist = Watchlist((), ())
    if not isinstance(watchlist_value, str):
        out.add(["watchlist"], "must be a file path")
    else:
        try:
            watchlist = load_watchlist(
                watchlist_path,
                notifiers={n.name for n in notifiers},
                sources=_source_ids(raw.get("folders"), raw.get("feeds")),
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
        folders=tuple(folders),
        notifiers=tuple(notifiers),
        delivery=delivery,
        log_level=log_level,
        feeds=tuple(feeds),
        defaults=defaults,
        fetch=fetch,
        daemon=daemon,
        http=http,
        retention=retention,
    )


def _normalize_postgres_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _source_ids(*tables: Any) -> set[str]:
    """Every source id the config names, valid or not (a broken feed is reported once)."""
    return {
        table["id"]
        for value in tables
        if isinstance(value, list)
        for table in value
        if isinstance(table, dict) and isinstance(table.get("id"), str)
    }


def _resolve_sqlite_path(url: str, base: Path) -> str:
    """Relative SQLite paths resolve against the config file's folder, like every other path."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return prefix + str((base / rest).resolve())
    return url


def _tables(value: Any, name: str, out: _Collector) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        out.add([name], f"must be an array of tables ([[{name}]])")
        return []
    return value


def _load_notifiers(value: Any, base: Path, out: _Collector) -> list[NotifierSettings]:
    result: list[NotifierSettings] = []
    names: set[str] = set()
    for index, table in enumerate(_tables(value, "notifiers", out)):
        key: list[str | int] = ["notifiers", index]
        name, kind = table.get("name"), table.get("type")
        if not isinstance(name, str) or not _ID.match(name):
            out.add([*key, "name"], "required: letters a-z, digits and '-'")
            continue
        if name in names:
            out.add([*key, "name"], f"duplicate notifier name {name!r}")
            continue
        names.add(name)
        if not isinstance(kind, str):
            out.add([*key, "type"], 'required: the notifier type, e.g. "console"')
            continue
        digest: timedelta | None = None
        if "digest" in table:
            try:
                digest = parse_duration(table["digest"])
                if digest < timedelta(minutes=1):
                    raise ValueError("must be at least 1m")
            except ValueError as e:
                out.add([*key, "digest"], str(e))
                continue
        options = {k: v for k, v in table.items() if k not in NOTIFIER_KEYS}
        instance = _make_plugin(NOTIFIERS, kind, Notifier, name, options, base, key, out)
        if isinstance(instance, Notifier):
            operator = table.get("operator", False)
            if not isinstance(operator, bool):
                out.add([*key, "operator"], "must be true or false")
                continue
            result.append(NotifierSettings(name, kind, instance, digest, operator))
    return result


def _load_folders(value: Any, base: Path, out: _Collector) -> list[FolderSettings]:
    result: list[FolderSettings] = []
    ids: set[str] = set()
    for index, table in enumerate(_tables(value, "folders", out)):
        key: list[str | int] = ["folders", index]
        source_id = table.get("id")
        if not isinstance(source_id, str) or not _ID.match(source_id):
            out.add([*key, "id"], "required: letters a-z, digits and '-'")
            continue
        if source_id in ids:
            out.add([*key, "id"], f"duplicate source id {source_id!r}")
            continue
        ids.add(source_id)
        try:
            interval = parse_duration(table.get("interval", "30s"))
            if interval < timedelta(seconds=1):
                raise ValueError("must be at least 1s")
        except ValueError as e:
            out.add([*key, "interval"], str(e))
            continue
        owner = table.get("instance")
        if owner is not None and (not isinstance(owner, str) or not owner):
            out.add([*key, "instance"], "must be an instance name (see --instance)")
            continue
        tags = _load_tags(table, key, out)
        options = {k: v for k, v in table.items() if k not in FOLDER_KEYS}
        if "path" not in options:
            out.add([*key, "path"], "required: the folder to watch")
            continue
        instance = _make_plugin(SOURCES, "folder", Source, source_id, options, base, key, out)
        if tags is not None and isinstance(instance, Source):
            result.append(FolderSettings(source_id, interval, instance, owner, tags))
    return result


def _load_feeds(
    value: Any, base: Path, defaults: DefaultsSettings, taken: set[str], out: _Collector
) -> list[FeedSettings]:
    result: list[FeedSettings] = []
    ids = set(taken)
    for index, table in enumerate(_tables(value, "feeds", out)):
        key: list[str | int] = ["feeds", index]
        source_id = table.get("id")
        if not isinstance(source_id, str) or not _ID.match(source_id):
            out.add([*key, "id"], "required: letters a-z, digits and '-'")
            continue
        if source_id in ids:
            out.add(
                [*key, "id"], f"duplicate source id {source_id!r} (folders and feeds share ids)"
            )
            continue
        ids.add(source_id)
        ok = True
        interval = defaults.poll_interval
        max_age = None
        try:
            if "interval" in table:
                interval = parse_duration(table["interval"])
                if interval < timedelta(seconds=1):
                    raise ValueError("must be at least 1s")
        except ValueError as e:
            out.add([*key, "interval"], str(e))
            ok = False
        try:
            if "max_age" in table:
                max_age = parse_duration(table["max_age"])
        except ValueError as e:
            out.add([*key, "max_age"], str(e))
            ok = False
        broken_after = defaults.broken_after
        try:
            if "broken_after" in table:
                broken_after = parse_duration(table["broken_after"])
        except ValueError as e:
            out.add([*key, "broken_after"], str(e))
            ok = False
        tags = _load_tags(table, key, out)
        if tags is None:
            ok = False
        first_poll = table.get("first_poll", "skip")
        if first_poll not in ("skip", "alert"):
            out.add([*key, "first_poll"], 'must be "skip" (store the backlog silently) or "alert"')
            ok = False
        options = {k: v for k, v in table.items() if k not in FEED_KEYS}
        if "url" not in options:
            out.add([*key, "url"], "required: the feed URL")
            continue
        instance = _make_plugin(SOURCES, "feed", Source, source_id, options, base, key, out)
        if ok and isinstance(instance, Source):
            result.append(
                FeedSettings(
                    source_id, interval, instance, tags or (), first_poll, max_age, broken_after
                )
            )
    return result


def _load_tags(
    table: Mapping[str, Any], key: list[str | int], out: _Collector
) -> tuple[str, ...] | None:
    """A source's `tags` (None if invalid): what the topics' `tags` filters select on."""
    tags = table.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        out.add([*key, "tags"], "must be a list of non-empty strings")
        return None
    return tuple(tags)


def _load_table(value: Any, name: str, cls: type[T], out: _Collector) -> T:
    """A settings table whose keys are the fields of the dataclass `cls` (typed by defaults)."""
    defaults = cls()
    if not isinstance(value, dict):
        out.add([name], "must be a table")
        return defaults
    fields = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    _check_keys(value, tuple(fields), [name], out)
    values: dict[str, Any] = {}
    for key_name, default in fields.items():
        if key_name not in value:
            continue
        raw_value = value[key_name]
        try:
            if hints[key_name] == timedelta | None:  # optional: "" or absent means none
                values[key_name] = parse_duration(raw_value) if raw_value != "" else None
            elif isinstance(default, timedelta):
                values[key_name] = parse_duration(raw_value)
            elif isinstance(default, bool):
                values[key_name] = _coerce(raw_value, bool, key_name, Path("."))
            elif isinstance(default, int):
                parsed = parse_size(raw_value) if key_name.startswith("max_body") else raw_value
                least = 0 if key_name == "workers" else 1
                if not isinstance(parsed, int) or isinstance(parsed, bool) or parsed < least:
                    raise ValueError(f"expected an integer of at least {least}, got {raw_value!r}")
                values[key_name] = parsed
            else:
                values[key_name] = _coerce(raw_value, str, key_name, Path("."))
        except ValueError as e:
            out.add([name, key_name], str(e))
    return dataclasses.replace(defaults, **values)  # type: ignore[type-var]


def _load_delivery(value: Any, out: _Collector) -> DeliverySettings:
    if not isinstance(value, dict):
        out.add(["delivery"], "must be a table")
        value = {}
    _check_keys(value, DELIVERY_KEYS, ["delivery"], out)
    schedule: list[timedelta] = []
    raw_schedule = value.get("retry_schedule", list(DEFAULT_RETRY_SCHEDULE))
    if not isinstance(raw_schedule, list):
        out.add(["delivery", "retry_schedule"], "must be a list of durations")
        raw_schedule = list(DEFAULT_RETRY_SCHEDULE)
    for i, item in enumerate(raw_schedule):
        try:
            schedule.append(parse_duration(item))
        except ValueError as e:
            out.add(["delivery", "retry_schedule", i], str(e))
    jitter = value.get("jitter", 0.2)
    if not isinstance(jitter, int | float) or isinstance(jitter, bool) or not 0 <= jitter < 1:
        out.add(["delivery", "jitter"], "must be a number from 0 to below 1 (0.2 = ±20 %)")
        jitter = 0.2
    batch_size = value.get("batch_size", 100)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        out.add(["delivery", "batch_size"], "must be a positive integer")
        batch_size = 100
    return DeliverySettings(tuple(schedule), float(jitter), batch_size)


def _make_plugin(
    group: str,
    kind: str,
    base_class: type,
    name: str,
    options: dict[str, Any],
    base: Path,
    key: list[str | int],
    out: _Collector,
) -> object | None:
    """Load the plugin class, check options against its constructor, and build it."""
    try:
        cls: type = load_plugin(group, kind, base_class)
    except PluginError as e:
        out.add([*key, "type"], str(e))
        return None
    parameters = list(inspect.signature(cls).parameters.values())[1:]  # [0]: the name / id
    accepted = {p.name: p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    hints = typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    ok = True
    for option in options:
        if option not in accepted:
            hint = difflib.get_close_matches(option, list(accepted), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            out.add([*key, option], f"unknown option for type {kind!r}{suggestion}")
            ok = False
    kwargs: dict[str, Any] = {}
    for option, parameter in accepted.items():
        if option not in options:
            if parameter.default is inspect.Parameter.empty:
                out.add([*key, option], f"required option for type {kind!r}")
                ok = False
            continue
        value = options[option]
        if option in SECRET_OPTIONS and isinstance(value, str) and not isinstance(value, Secret):
            out.add(
                [*key, option],
                'must be a secret reference such as { env = "VAR" }, { file = "/path" } '
                'or { credential = "name" }, never the secret itself',
            )
            ok = False
            continue
        try:
            kwargs[option] = _coerce(options[option], hints.get(option, Any), option, base)
        except ValueError as e:
            out.add([*key, option], str(e))
            ok = False
    if not ok:
        return None
    try:
        return cls(name, **kwargs)
    except (ValueError, TypeError) as e:
        message = str(e)
        option = message.split(":", 1)[0] if ":" in message else ""
        out.add([*key, option] if option in accepted else key, message)
        return None


def _coerce(value: Any, hint: Any, option: str, base: Path) -> Any:
    """Convert a TOML value to the constructor's annotated type, or say what was expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        choices = [h for h in typing.get_args(hint) if h is not type(None)]
        hint = choices[0] if len(choices) == 1 else Any
        origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if option.endswith("size") or option.startswith("max_body"):
            return parse_size(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ValueError(f"expected a path, got {value!r}")
        return (base / value).resolve()
    if hint is timedelta:
        return parse_duration(value)
    if origin in (list, tuple, Sequence, typing.get_origin(Sequence[str])):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of strings, got {value!r}")
        return tuple(value)
    if origin in (dict, Mapping, typing.get_origin(Mapping[str, str])):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError(f"expected a table of strings, got {value!r}")
        return dict(value)
    return value


# --- watchlist ---------------------------------------------------------------------------


def load_watchlist(
    path: Path | str, *, notifiers: set[str] | None = None, sources: set[str] | None = None
) -> Watchlist:
    """Read and validate a watchlist file; `notifiers` (names) checks each topic's `notify`,
    `sources` (ids) each topic's `sources`; None: not known here, not checked.
    """
    path = Path(path)
    problems: list[Problem] = []
    loaded = _read_toml(path, problems)
    if loaded is None:
        raise ConfigError(problems)
    raw, text = loaded
    out = _Collector(path, text)
    if not text.strip():
        # An empty file is most likely a save in progress (truncated, not yet written):
        # applying it would silently stop every topic.
        out.add([], "empty file: write `topics = []` to watch nothing on purpose")
    _check_keys(raw, WATCHLIST_KEYS, [], out)
    aliases = _load_aliases(raw.get("aliases", {}), out)
    topics = _load_topics(raw.get("topics", []), aliases, notifiers, sources, out)
    if out.problems:
        raise ConfigError(out.problems)
    return Watchlist(aliases=tuple(aliases), topics=tuple(topics))


def _load_aliases(value: Any, out: _Collector) -> list[tuple[str, ...]]:
    if not isinstance(value, dict):
        out.add(["aliases"], 'must be a table: "name" = ["spelling", …]')
        return []
    classes: list[tuple[str, ...]] = []
    owner: dict[str, str] = {}
    for head, spellings in value.items():
        key: list[str | int] = ["aliases", head]
        if not isinstance(spellings, list) or not all(isinstance(s, str) for s in spellings):
            out.add(key, "must be a list of spellings")
            continue
        members = (head, *spellings)
        for spelling in members:
            norm = normalize(spelling)
            if not norm:
                out.add(key, f"empty spelling {spelling!r}")
            elif norm in owner and owner[norm] != head:
                out.add(
                    key,
                    f"spelling {spelling!r} is already in the alias class of {owner[norm]!r}; "
                    "a spelling may belong to one class only (merge the two)",
                )
            else:
                owner[norm] = head
        classes.append(members)
    return classes


def _load_topics(
    value: Any,
    aliases: Sequence[Sequence[str]],
    notifiers: set[str] | None,
    sources: set[str] | None,
    out: _Collector,
) -> list[Topic]:
    alias_of: dict[str, list[str]] = {}
    for spellings in aliases:
        normalized = [normalize(s) for s in spellings]
        alias_of.update((spelling, normalized) for spelling in normalized)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        out.add(["topics"], "must be an array of tables ([[topics]])")
        return []
    topics: list[Topic] = []
    ids: set[str] = set()
    for index, table in enumerate(value):
        key: list[str | int] = ["topics", index]
        _check_keys(table, TOPIC_KEYS, key, out)
        topic_id = table.get("id")
        if not isinstance(topic_id, str) or not _ID.match(topic_id):
            out.add([*key, "id"], "required: lowercase letters a-z, digits and '-'")
            continue
        if topic_id in ids:
            out.add([*key, "id"], f"duplicate topic id {topic_id!r}")
            continue
        ids.add(topic_id)
        title = table.get("title", topic_id)
        if not isinstance(title, str) or not title.strip():
            out.add([*key, "title"], "must be a non-empty string")
            title = topic_id
        context = _TermContext(alias_of)
        groups = _load_groups(table.get("all"), [*key, "all"], out, context)
        any_terms = _load_terms(table.get("any"), [*key, "any"], out, context)
        none_terms = _load_terms(table.get("none"), [*key, "none"], out, context)
        regex = _load_regex(table.get("regex"), [*key, "regex"], out)
        if not groups and not any_terms and not regex and not {"all", "any", "regex"} & set(table):
            out.add(key, f"topic {topic_id!r} needs `all`, `any` or `regex`")
        notify: tuple[str, ...] | None = None
        if "notify" in table:
            notify = _load_strings(table["notify"], [*key, "notify"], out)
            for name in notify:
                if notifiers is not None and name not in notifiers:
                    known = ", ".join(sorted(notifiers)) or "none"
                    out.add([*key, "notify"], f"no notifier named {name!r} (configured: {known})")
        source_ids = _load_strings(table.get("sources"), [*key, "sources"], out)
        for name in source_ids:
            if sources is not None and name not in sources:
                known = ", ".join(sorted(sources)) or "none"
                out.add([*key, "sources"], f"no source with id {name!r} (configured: {known})")
        tags = _load_strings(table.get("tags"), [*key, "tags"], out)
        fields: tuple[str, ...] = FIELDS
        if "fields" in table:
            fields = _load_strings(table["fields"], [*key, "fields"], out)
            if sorted(fields) == sorted(FIELDS):
                fields = FIELDS
            elif fields != ("title",):
                out.add([*key, "fields"], 'must be ["title"] or ["title", "text"]')
                fields = FIELDS
        min_hits = table.get("min_hits", 1)
        distinct = len({normalize(t) for t in (*(t for g in groups for t in g), *any_terms)})
        distinct += len(set(regex))
        if not isinstance(min_hits, int) or isinstance(min_hits, bool) or min_hits < 1:
            out.add([*key, "min_hits"], "must be a positive integer")
            min_hits = 1
        elif min_hits > max(distinct, 1):
            out.add(
                [*key, "min_hits"],
                f"can never be reached: the topic has {distinct} distinct `all`/`any` terms "
                "and regexes",
            )
            min_hits = 1
        max_per_hour = table.get("max_alerts_per_hour")
        if max_per_hour is not None and (
            not isinstance(max_per_hour, int) or isinstance(max_per_hour, bool) or max_per_hour < 1
        ):
            out.add([*key, "max_alerts_per_hour"], "must be a positive integer")
            max_per_hour = None
        muted_until = None
        if "muted_until" in table:
            try:
                muted_until = parse_instant(table["muted_until"])
            except ValueError as e:
                out.add([*key, "muted_until"], str(e))
        topics.append(
            Topic(
                topic_id,
                title.strip(),
                groups,
                any_terms,
                none_terms,
                notify,
                sources=source_ids,
                tags=tags,
                fields=fields,
                min_hits=min_hits,
                regex=regex,
                max_alerts_per_hour=max_per_hour,
                muted_until=muted_until,
                exceptions=tuple(
                    (term, tuple(dict.fromkeys(spellings)))
                    for term, spellings in context.exceptions.items()
                ),
            )
        )
    return topics


def _load_strings(value: Any, key: list[str | int], out: _Collector) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        out.add(key, "must be a list of non-empty strings")
        return ()
    return tuple(value)


def _load_regex(value: Any, key: list[str | int], out: _Collector) -> tuple[str, ...]:
    """RE2 patterns, compiled here as `monitor.match.compile_regex` will (t2s, no case)."""
    patterns = _load_strings(value, key, out)
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    for pattern in patterns:
        try:
            re2.compile(to_simplified(pattern), options)
        except re2.error as e:
            reason = e.args[0] if e.args else e
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            out.add(key, f"invalid regular expression {pattern!r}: {reason} (RE2 syntax)")
            return ()
    return patterns


@dataclass
class _TermContext:
    """What a topic's terms need while loading: alias classes, and where exceptions go."""

    alias_of: Mapping[str, Sequence[str]]  # normalized spelling → its class, normalized
    exceptions: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def _load_terms(
    value: Any, key: list[str | int], out: _Collector, context: _TermContext
) -> tuple[str, ...]:
    """A list of terms: strings, or `{ term = "…", except = ["…"] }` tables."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | dict) for v in value):
        out.add(key, 'must be a list of terms: strings or { term = "…", except = ["…"] }')
        return ()
    terms = []
    for i, item in enumerate(value):
        term = item if isinstance(item, str) else _load_guarded_term(item, [*key, i], out, context)
        if term is None:
            return ()
        if not normalize(term):
            out.add(key, f"empty term {term!r}")
            return ()
        terms.append(term)
    return tuple(terms)


def _load_guarded_term(
    table: dict[str, Any], key: list[str | int], out: _Collector, context: _TermContext
) -> str | None:
    """`{ term = "中美", except = ["中美洲"] }`: the term, its exceptions kept in `context`."""
    _check_keys(table, TERM_KEYS, key, out)
    term = table.get("term")
    if not isinstance(term, str) or not normalize(term):
        out.add([*key, "term"], "required: a non-empty string")
        return None
    exceptions = _load_strings(table.get("except"), [*key, "except"], out)
    own = normalize(term)
    spellings = context.alias_of.get(own, (own,))
    for exception in exceptions:
        folded = normalize(exception)
        if not any(s in folded and s != folded for s in spellings):
            out.add(
                [*key, "except"],
                f"exception {exception!r} must contain {term!r} (or a spelling of its alias "
                "class) and be longer: a hit of the term inside it is what it discards",
            )
            return None
    context.exceptions.setdefault(term, []).extend(exceptions)
    return term


def _load_groups(
    value: Any, key: list[str | int], out: _Collector, context: _TermContext
) -> tuple[tuple[str, ...], ...]:
    if value is None:
        return ()
    if isinstance(value, list) and value and all(isinstance(v, str | dict) for v in value):
        words = [v if isinstance(v, str) else str(v.get("term", "…")) for v in value[:3]]
        suggestion = ", ".join(f'["{v}"]' for v in words)
        out.add(
            key,
            "must be a list of groups (lists); every group needs a hit. A flat list is ambiguous: "
            f"write [{suggestion}] if every term is required, or use `any` if one is enough",
        )
        return ()
    if not isinstance(value, list) or not all(isinstance(v, list) for v in value):
        out.add(key, 'must be a list of lists of strings, e.g. [["中國", "北京"], ["俄羅斯"]]')
        return ()
    groups = []
    for i, group in enumerate(value):
        terms = _load_terms(group, [*key, i], out, context)
        if not terms:
            out.add([*key, i], "an empty group can never match")
            continue
        groups.append(terms)
    return tuple(groups)
