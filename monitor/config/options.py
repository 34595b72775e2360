"""A plugin's own options: its constructor's keyword arguments are their declaration.

The annotation is the type (`Bytes` for a size, `timedelta` for a duration, `Path` resolved
against the config folder), the default is the default, and the constructor's `ValueError`
("option: message") is the check. Secret-bearing options accept only secret references.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.config.toml import Collector
from monitor.config.values import Secret, parse_duration, parse_size
from monitor.plugins import Bytes, PluginError, load_plugin

# Options that hold credentials: only secret references are accepted (RELIABILITY.md CFG-5).
SECRET_OPTIONS = ("password", "secret")


@functools.cache
def option_schema(cls: type) -> tuple[dict[str, inspect.Parameter], dict[str, Any]]:
    """The keyword-only parameters of `cls` after the name/id, and their type hints; once per
    class (resolving string annotations costs more than building a source)."""
    parameters = list(inspect.signature(cls).parameters.values())[1:]  # [0]: the name / id
    accepted = {p.name: p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return accepted, typing.get_type_hints(cls.__init__)  # type: ignore[misc]


def plugin_options(cls: type) -> list[str]:
    """The option names `cls` accepts, in constructor order."""
    return list(option_schema(cls)[0])


def make_plugin(
    group: str,
    kind: str,
    base_class: type,
    name: str,
    options: Mapping[str, Any],
    base: Path,
    key: Sequence[str | int],
    out: Collector,
    table_keys: Sequence[str] = (),
) -> object | None:
    """Load the plugin class, check options against its constructor, and build it.
    `table_keys`: the table's own keys, also offered as "did you mean" for a misspelling."""
    try:
        cls: type = load_plugin(group, kind, base_class)
    except PluginError as e:
        out.add([*key, "type"], str(e))
        return None
    accepted, hints = option_schema(cls)
    ok = True
    for option in options:
        if option not in accepted:
            hint = difflib.get_close_matches(option, [*accepted, *table_keys], n=1)
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
            kwargs[option] = coerce(value, hints.get(option, Any), base)
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
        out.add([*key, option] if option in accepted else list(key), message)
        return None


def coerce(value: Any, hint: Any, base: Path) -> Any:
    """Convert a TOML value to the constructor's annotated type, or say what was expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        choices = [h for h in typing.get_args(hint) if h is not type(None)]
        hint = choices[0] if len(choices) == 1 else Any
        origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if hint is Bytes:
        return parse_size(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if hint is int:
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
