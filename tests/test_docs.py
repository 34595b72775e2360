"""The README is the manual: every config key, option and command it must document."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from monitor import config
from monitor.cli import build_parser
from monitor.plugins import NOTIFIERS, SOURCES, available, load_plugin

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def plugin_options(group: str, name: str) -> list[str]:
    cls = load_plugin(group, name, object)
    return [p.name for p in list(inspect.signature(cls).parameters.values())[1:]]


SETTINGS_TABLES = (
    config.DefaultsSettings,
    config.FetchSettings,
    config.DaemonSettings,
    config.HttpSettings,
    config.RetentionSettings,
)

KEYS = [
    *config.TOP_LEVEL_KEYS,
    *config.FEED_KEYS,
    *plugin_options(SOURCES, "feed"),
    *(f.name for cls in SETTINGS_TABLES for f in dataclasses.fields(cls)),
    *config.FOLDER_KEYS,
    *plugin_options(SOURCES, "folder"),
    *config.NOTIFIER_KEYS,
    *config.DELIVERY_KEYS,
    *config.WATCHLIST_KEYS,
    *config.TOPIC_KEYS,
    *config.TERM_KEYS,
    *(option for name in available(NOTIFIERS) for option in plugin_options(NOTIFIERS, name)),
]


@pytest.mark.parametrize("key", sorted(set(KEYS)))
def test_every_config_key_is_documented(key: str) -> None:
    forms = (f"| `{key}` |", f"### `[[{key}]]`", f"### `[{key}]`")
    assert any(form in README for form in forms), f"README documents no `{key}`"


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
