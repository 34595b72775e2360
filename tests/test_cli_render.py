"""monitor/cli/render.py: output that does not go to a terminal is byte for byte what monitor
printed before rich (pinned in tests/data/cli/, captured from the hand-written renderers);
a terminal gets rich's tables and colours."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from monitor.cli import main
from monitor.cli.explain import explained_text
from monitor.cli.render import Output, plain_table
from monitor.config import load_config
from monitor.usecases import explain_files

PINNED = Path(__file__).resolve().parent / "data" / "cli"
SEED = "000_e111a6c8e310c3f6.txt"


@pytest.fixture
def stored(
    workdir: Path, copy_seeds: Callable[[Path], list[Path]], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The seeds stored; the working directory is the workdir (explain prints the path given)."""
    copy_seeds(workdir / "inbox")
    monkeypatch.chdir(workdir)
    assert main(["--config", "monitor.toml", "run", "--once"]) == 0
    return workdir


def terminal() -> tuple[Output, io.StringIO]:
    buffer = io.StringIO()
    return Output(buffer, Console(file=buffer, force_terminal=True, width=120)), buffer


def test_a_table_not_on_a_terminal_is_the_pinned_plain_text(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--config", "monitor.toml", "topics"]) == 0
    assert capsys.readouterr().out == (PINNED / "topics.txt").read_text(encoding="utf-8")


def test_explain_not_on_a_terminal_is_the_pinned_plain_text(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--config", "monitor.toml", "explain", f"inbox/{SEED}"]) == 0
    assert capsys.readouterr().out == (PINNED / "explain.txt").read_text(encoding="utf-8")
    assert main(["--config", "monitor.toml", "explain", "--no-color", f"inbox/{SEED}"]) == 0
    assert capsys.readouterr().out == (PINNED / "explain.txt").read_text(encoding="utf-8")


def test_a_table_on_a_terminal_is_drawn_by_rich() -> None:
    rows = [("china-russia-arms", "ok", 5), ("taiwan", "failing", None)]
    out, buffer = terminal()
    out.table(("topic", "health", "alerts"), rows)
    drawn = buffer.getvalue()
    assert "\x1b[1m" in drawn  # bold headers
    assert "\x1b[32mok" in drawn and "\x1b[31mfailing" in drawn  # states in colour
    assert "─" in drawn and "china-russia-arms" in drawn and " - " in drawn
    plain = io.StringIO()
    Output(plain).table(("topic", "health", "alerts"), rows)
    assert plain.getvalue() == plain_table(("topic", "health", "alerts"), rows)
    assert "\x1b" not in plain.getvalue()


def test_explain_on_a_terminal_is_coloured_and_highlights_instead_of_bracketing(
    stored: Path,
) -> None:
    settings = load_config(stored / "monitor.toml")
    [result] = explain_files([Path("inbox") / SEED], settings.watchlist, settings.folders)
    out, buffer = terminal()
    out.styled(explained_text(result, highlight=out.is_terminal))
    drawn = buffer.getvalue()
    assert "\x1b[1minbox/" in drawn  # the target in bold
    assert "\x1b[32m✔\x1b[0m china-russia-arms" in drawn and "\x1b[31m✘\x1b[0m taiwan" in drawn
    assert "稱\x1b[1;33m中國\x1b[0m有意" in drawn and "[中國]" not in drawn
    plain = "".join(text for text, _ in explained_text(result, highlight=False))
    assert plain == (PINNED / "explain.txt").read_text(encoding="utf-8")
