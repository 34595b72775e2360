"""Command line: `main()` builds the parser from the command modules, sets up logging and maps
errors to exit codes (0 ok, 1 completed with failures, 2 usage or config error). Heavy imports
happen inside the command that needs them so `monitor --help` stays fast.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from monitor.cli import (
    alerts,
    check,
    db,
    explain,
    feeds,
    notifiers,
    replay,
    run,
    status,
    stories,
    topics,
)
from monitor.cli.common import EXIT_FAILURES, EXIT_OK, EXIT_USAGE

__all__ = ["EXIT_FAILURES", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

# The command modules in the order `monitor --help` lists them.
COMMANDS = (run, check, explain, status, replay, topics, stories, feeds, db, notifiers, alerts)


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """--config, --instance, --log-level, --log-format: on the main parser with their defaults,
    and on every subcommand with SUPPRESS, so `monitor run --instance X` works too and sets the
    value only when it is given there (argparse copies a subparser's defaults over the main
    parser's otherwise)."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--config",
        type=Path,
        default=default(None),
        help="config file (default: $MONITOR_CONFIG, else config/monitor.toml)",
    )
    parser.add_argument(
        "--instance",
        default=default(None),
        help="this process's instance name (default: $MONITOR_INSTANCE, else the host name)",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=default(None),
        help="overrides log_level of the config file",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=default("text"),
        help="text (default) or json: one object per line with the key=value pairs as fields",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Watch folders and feeds; alert when articles match your topics.",
    )
    _global_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, defaults=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parsers(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _skip_httpx_command_line()
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level or "info", args.log_format)
    from monitor.errors import ConfigError, StoreError

    try:
        code: int = args.func(args)
        return code
    except ConfigError as e:
        print(f"monitor: configuration invalid ({len(e.problems)} problems):", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as e:
        print(f"monitor: {e}", file=sys.stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        return 130


def entry_point() -> NoReturn:
    """The `monitor` command (console script and `python -m monitor`): `main`, then the exit.

    The exit skips what the interpreter does last, tearing down every module and freeing its
    objects one by one: 24 ms → 8 ms from `main`'s return to the parent seeing the exit after
    an all-304 `run --once` of 1,000 feeds, spent on memory the kernel takes back anyway.
    What must happen at exit still does: the atexit handlers (logging's flush, joining child
    processes, any plugin's own) and stdout and stderr flushed; monitor closes its files and
    its database before `main` returns. With a thread other than daemon ones still running,
    the exit is the usual one, which waits for it."""
    code = main()
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # closed or broken: nothing left to save
            stream.flush()
    os._exit(code)


def _skip_httpx_command_line() -> None:
    """httpx imports its own command-line client (click, rich and pygments: 30-40 ms, a
    twentieth of an all-304 `run --once`) whenever click is installed, which uvicorn brings.
    The monitor command never runs it; marking the module absent makes httpx skip it, as it
    does when click is not installed. Only this process's entry point does it, never the
    library, so a program that imports monitor keeps httpx whole."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def _setup_logging(level: str, fmt: str = "text") -> None:
    """One line per event: time, level, module, then the event and its key=value pairs
    (monitor/logs.py: as JSON with `--log-format json`; journald-aware)."""
    from monitor.logs import make_formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic narrates every migration step at INFO; monitor logs the one line that matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler logs every job run at INFO; our jobs log their own one line per event.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # No formatter of monitor.logs shows a file, line or function: skip looking them up for
    # every record (the Logging HOWTO's "Optimization" section; a stack walk per line).
    logging._srcfile = None
