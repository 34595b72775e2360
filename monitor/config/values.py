"""Value parsing shared by every config file: durations, sizes, instants, listen addresses,
and secret references. Knows no key or table: the declarations in `keys` say which applies.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config.toml import Collector

_DURATION = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*\Z")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"\A\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*\Z")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 2**20,
               "GB": 10**9, "GiB": 2**30}  # fmt: skip
_SECRET_KINDS = ("env", "file", "credential")


class Secret(str):
    """A resolved secret: a plain `str` to the code that uses it, masked in any repr."""

    def __repr__(self) -> str:
        return "Secret('***')"


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


def resolve_secrets(
    value: Any, key: Sequence[str | int], out: Collector, env: Mapping[str, str]
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
        return {k: resolve_secrets(v, [*key, k], out, env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secrets(v, [*key, i], out, env) for i, v in enumerate(value)]
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
