"""The README is the manual: every config key, option and command it must document."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from monitor import config
from monitor.cli import build_parser
from monitor.plugins import NOTIFIERS, SOURCES, available, load_plugin

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def plugin_options(group: str, name: str) -> list[str]:
    return config.plugin_options(load_plugin(group, name, object))


def names(keys: Iterable[config.Key]) -> set[str]:
    return {key.name for key in keys}


# The config's top-level keys that are tables: each has a section of its own.
TABLE_KEYS = {*config.SETTINGS_TABLES, *config.SOURCE_TABLES, "notifiers"}
# Heading (its start) → the keys its table must list, exactly: all from the declarations.
SHORTHAND = names(config.LIFECYCLE_KEYS) - {"type"}  # [[feeds]]/[[folders]]: type implied
TABLES: dict[str, set[str]] = {
    "### Top level": names(config.TOP_LEVEL_KEYS) - TABLE_KEYS,
    **{
        f"### `[{name}]`": names(config.keys_of(cls))
        for name, cls in config.SETTINGS_TABLES.items()
    },
    "### `[[feeds]]`": SHORTHAND | set(plugin_options(SOURCES, "feed")),
    "### `[[folders]]`": SHORTHAND | set(plugin_options(SOURCES, "folder")),
    "### `[[sources]]`": names(config.LIFECYCLE_KEYS),
    "### `[[notifiers]]`": names(config.NOTIFIER_KEYS),
    "## Watchlist": names((*config.WATCHLIST_KEYS, *config.TOPIC_KEYS, *config.TERM_KEYS)),
}


def readme_table(heading: str) -> set[str]:
    """The `key` names in the first column of the first table under the heading."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break  # the end of the first table
    return {m[1] for row in rows if (m := re.match(r"\| `([^`]+)` \|", row))}


@pytest.mark.parametrize("heading", sorted(TABLES))
def test_readme_table_lists_exactly_the_declared_keys(heading: str) -> None:
    documented = readme_table(heading)
    declared = TABLES[heading]
    assert not declared - documented, f"{heading}: missing rows {sorted(declared - documented)}"
    assert not documented - declared, f"{heading}: rows of no key {sorted(documented - declared)}"


@pytest.mark.parametrize("name", sorted(TABLE_KEYS))
def test_every_table_has_a_section(name: str) -> None:
    assert f"### `[{name}]`" in README or f"### `[[{name}]]`" in README


NOTIFIER_OPTIONS = sorted(
    {option for name in available(NOTIFIERS) for option in plugin_options(NOTIFIERS, name)}
)


@pytest.mark.parametrize("key", NOTIFIER_OPTIONS)
def test_every_notifier_option_is_documented(key: str) -> None:
    assert f"| `{key}` |" in README, f"README documents no `{key}`"


@pytest.mark.parametrize("name", available(NOTIFIERS))
def test_every_builtin_notifier_has_a_section(name: str) -> None:
    assert f"### `{name}`" in README


def test_every_command_is_documented() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command, sub in commands.items():
        assert f"`monitor {command}" in README, command
        if sub._subparsers is not None:
            for action in sub._subparsers._group_actions[0].choices:
                assert f"`monitor {command} {action}" in README, f"{command} {action}"


def test_the_two_commands_come_first() -> None:
    first_section = README.split("\n## ", 2)[1]
    assert "make run" in first_section and "make test" in first_section


def test_the_module_table_matches_the_tree() -> None:
    """Every module and package of monitor/ has a row (by its path or inside its package's
    row), and every row names something that exists."""
    package = Path(__file__).resolve().parent.parent / "monitor"
    table = README.split("Layout (", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| (.+?) \|", table, flags=re.M)
    named: set[str] = set()
    for row in rows:
        paths = re.findall(r"`([^`]+)`", row)
        folder = Path(paths[0]).parent if paths else Path("monitor")
        for path in paths:
            full = path if path.startswith("monitor/") else str(folder / path)
            assert (package.parent / full).exists(), f"README names {full}, which does not exist"
            named.add(full.rstrip("/"))
    for module in package.iterdir():
        if module.name.startswith(("_", ".")) or module.suffix not in (".py", ""):
            continue
        path = f"monitor/{module.name}"
        covered = path in named or any(n.startswith(path + "/") for n in named)
        assert covered, f"{path} has no row"
