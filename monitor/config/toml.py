"""Reading a TOML file, and the problems found in it placed on their lines.

tomllib gives lines for syntax errors only, so a small locator finds the line of a key path.
Knows no key: `check_keys` takes the declared names.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError, Problem


class Collector:
    """Problems found in one file, each placed on its line when the locator can find it."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.locate = KeyLocator(text)
        self.problems: list[Problem] = []

    def add(self, key: Sequence[str | int], message: str) -> None:
        self.problems.append(Problem(str(self.path), key_path(key), message, line=self.locate(key)))

    def add_in_string(
        self, key: Sequence[str | int], value: str, offset: int, message: str, detail: str = ""
    ) -> None:
        """A problem at `offset` inside the string value of `key`: file:line:column when the
        value is a one-line string without escapes (so the column is exact), else the key's
        line and the offset in the string. `detail`: more lines (e.g. a caret) after it."""
        line = self.locate(key)
        column = None
        if line is not None and key and isinstance(key[-1], str):
            column = string_column(self.locate.lines[line - 1], key[-1], value, offset)
        if column is None:
            message = f"{message} (at character {offset + 1} of the string)"
        if detail:
            message = f"{message}\n{detail}"
        self.problems.append(
            Problem(str(self.path), key_path(key), message, line=line, column=column)
        )


def string_column(line: str, name: str, value: str, offset: int) -> int | None:
    """The 1-based column of `value[offset]` on `line` (`name = "value"`), or None when the
    value is not written there verbatim (escapes, multi-line strings, another key)."""
    m = re.match(
        rf"\s*(?:{re.escape(name)}|\"{re.escape(name)}\"|'{re.escape(name)}')\s*=\s*", line
    )
    if m is None:
        return None
    rest = line[m.end() :]
    for quote in ("'", '"'):
        if rest.startswith(quote) and not rest.startswith(quote * 3):
            end = rest.find(quote, 1)
            body = rest[1:end] if end > 0 else ""
            if body == value and (quote == "'" or "\\" not in body):
                return m.end() + 1 + offset + 1
    return None


def key_path(key: Sequence[str | int]) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class KeyLocator:
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


def read_toml(path: Path, problems: list[Problem]) -> tuple[dict[str, Any], str] | None:
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


def open_toml(path: Path) -> tuple[dict[str, Any], Collector]:
    """The parsed file and a collector for its problems; `ConfigError` when the file cannot
    be read or is not TOML (nothing else can be checked then)."""
    problems: list[Problem] = []
    loaded = read_toml(path, problems)
    if loaded is None:
        raise ConfigError(problems)
    raw, text = loaded
    return raw, Collector(path, text)


def check_keys(
    table: Mapping[str, Any], allowed: Iterable[str], key: Sequence[str | int], out: Collector
) -> None:
    """Report every key of `table` not in `allowed`, with the nearest allowed name as a hint."""
    names = list(allowed)
    for name in table:
        if name not in names:
            hint = difflib.get_close_matches(name, names, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            out.add([*key, name], f"unknown key{suggestion}")


def array_of_tables(value: Any, name: str, out: Collector) -> list[dict[str, Any]]:
    """`[[name]]` tables, or [] and a problem when the key holds something else."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        out.add([name], f"must be an array of tables ([[{name}]])")
        return []
    return value
