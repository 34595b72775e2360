"""How command output looks: plain text when it does not go to a terminal (byte for byte what
scripts and tests read), rich tables, colour and progress bars when it does. Every table,
styled document and progress bar of the CLI goes through here; rich is imported only for a terminal.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console

# A styled document: (text, rich style) pairs; "" is no style. Plain output joins the texts.
Styled = list[tuple[str, str]]

# Table cells whose first word is a state get its colour on a terminal.
_STATE_STYLES = {
    "ok": "green",
    "enabled": "green",
    "queued": "green",
    "failing": "red",
    "failed": "red",
    "dead": "red",
    "disabled": "red",
    "pending": "yellow",
    "would": "yellow",
}


def wants_terminal(file: TextIO, *, no_color: bool = False) -> bool:
    """Rich output only on a terminal, and never with --no-color or $NO_COLOR (no-color.org)."""
    return file.isatty() and not no_color and "NO_COLOR" not in os.environ


class Output:
    """One output stream: plain text, or a rich `Console` on a terminal."""

    def __init__(self, file: TextIO, console: Console | None = None) -> None:
        self.file = file
        self.console = console

    @classmethod
    def to(cls, file: TextIO | None = None, *, no_color: bool = False) -> Output:
        """Output for `file` (default: the current sys.stdout), rich only if it is a terminal."""
        file = file if file is not None else sys.stdout
        if not wants_terminal(file, no_color=no_color):
            return cls(file)
        from rich.console import Console

        return cls(file, Console(file=file, highlight=False))

    @property
    def is_terminal(self) -> bool:
        return self.console is not None

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[object]], *, rule: bool = True
    ) -> None:
        """A table; in plain text `rule` draws dashes under the headers (the two plain layouts
        scripts already parse: `status`, `feeds list`, `topics`, `replay` with; `notifiers
        list`, `alerts list` without)."""
        if self.console is None:
            self.file.write(plain_table(headers, rows, rule=rule))
            return
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.SIMPLE_HEAD, header_style="bold", show_edge=False, pad_edge=False)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            cells = ["-" if c is None else str(c) for c in row]
            table.add_row(*(Text(c, style=_state_style(c)) for c in cells))
        self.console.print(table)

    def styled(self, parts: Styled) -> None:
        """A styled document: the bare text in plain output, coloured on a terminal."""
        if self.console is None:
            self.file.write("".join(text for text, _ in parts))
            return
        from rich.text import Text

        # Text strips control codes, so an article cannot move the cursor or retitle the terminal.
        self.console.print(Text.assemble(*parts), end="", soft_wrap=True)


def _state_style(cell: str) -> str:
    word = cell.split(" ", 1)[0].split(":", 1)[0].lower()
    return _STATE_STYLES.get(word, "")


def plain_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, rule: bool = True
) -> str:
    """Columns padded to their widest cell (in code points), two spaces apart, `-` for None."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


@contextmanager
def progress(label: str, file: TextIO | None = None) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal (default: stderr, so stdout stays the report); None, and
    nothing written, when it is redirected."""
    file = file if file is not None else sys.stderr
    if not wants_terminal(file):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), console=Console(file=file)
    ) as bar:
        task = bar.add_task(label, total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield show


# --- values as the tables show them -------------------------------------------------------


def mask_url(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def duration(seconds: float) -> str:
    """`90` → `90s`, `600` → `10m`, `7200` → `2h`: the units of the config file."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def when(moment: datetime | None, now: datetime) -> str:
    """`in 10m` or `3s ago` relative to `now`; `-` for never."""
    if moment is None:
        return "-"
    seconds = (moment - now).total_seconds()
    label = duration(round(abs(seconds)))
    return f"in {label}" if seconds > 0 else f"{label} ago"


def size(count: int | None) -> str:
    """Bytes in binary units, one decimal: `148.0 KiB`."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)
