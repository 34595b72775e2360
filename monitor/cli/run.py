"""`monitor run`: the daemon, or one pass with `--once`; the one command that migrates the
database (through `open_store`) before it starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from monitor.cli.common import EXIT_FAILURES, EXIT_OK, EXIT_USAGE, Schema, load_settings, open_store
from monitor.heap import building_heap

if TYPE_CHECKING:
    from monitor.config import Settings

# "monitor", not __name__: the pass summary has always been logged as `monitor pass done …`.
log = logging.getLogger("monitor")


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    run = commands.add_parser(
        "run", parents=[common], help="run the daemon (or one pass with --once)"
    )
    run.add_argument("--once", action="store_true", help="one pass over every source, then exit")
    run.add_argument(
        "--retry-now",
        action="store_true",
        help="with --once: also retry deliveries waiting for their next attempt",
    )
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.retry_now and not args.once:
        print("monitor: --retry-now needs --once", file=sys.stderr)
        return EXIT_USAGE
    # The imports, the settings and the app live as long as the process: the collector is
    # kept off them (a tenth of an all-304 `run --once`), and the daemon's start does the same.
    from monitor.sources.http import preload_transport

    preload_transport()
    with building_heap():
        from monitor.app import make_app
        from monitor.config import load_config
        from monitor.store import peek_database_sources

        settings = load_settings(args)
        store = open_store(settings, Schema.MIGRATE)
        app = make_app(
            settings, store=store, instance=args.instance or os.environ.get("MONITOR_INSTANCE")
        )
    if not args.once:
        from monitor.daemon import Daemon

        def reload_config() -> Settings:
            # Checked against the database's feeds, as at start: a table reusing the id of
            # a feed added since is rejected like any invalid edit.
            return load_config(settings.path, database_sources=peek_database_sources)

        return Daemon(app, reload_config=reload_config).run()
    try:
        with building_heap():
            app.start()
        report = app.run_once(retry_now=args.retry_now)
    finally:
        app.close()
    log.info(
        "pass done new=%d duplicates=%d skipped=%d alerts=%d sent=%d failed=%d dead=%d "
        "failed_sources=%s",
        report.ingest.new,
        report.ingest.duplicates,
        report.ingest.skipped,
        report.ingest.alerts,
        report.delivery.sent,
        report.delivery.failed,
        report.delivery.dead,
        ",".join(report.failed_sources) or "-",
    )
    return EXIT_OK if report.ok else EXIT_FAILURES
