"""`monitor db …`: the schema (upgrade, status) and housekeeping (prune, vacuum, backfill).
`upgrade` is, with `run`, the only command that migrates; the others refuse an outdated schema.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from contextlib import closing
from datetime import timedelta

from monitor.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    Schema,
    load_settings,
    open_store,
)
from monitor.cli.render import size


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    db = commands.add_parser("db", parents=[common], help="database maintenance")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = actions.add_parser(
        "upgrade", parents=[common], help="apply pending schema migrations"
    )
    upgrade.set_defaults(func=_upgrade)
    status = actions.add_parser("status", parents=[common], help="show the schema revision")
    status.set_defaults(func=_status)
    prune = actions.add_parser("prune", parents=[common], help="apply [retention] now")
    prune.add_argument("--article-text", metavar="AGE", help='overrides [retention], e.g. "90d"')
    prune.add_argument("--deliveries", metavar="AGE", help='overrides [retention], e.g. "30d"')
    prune.set_defaults(func=_prune)
    vacuum = actions.add_parser(
        "vacuum", parents=[common], help="give freed space back to the file system"
    )
    vacuum.set_defaults(func=_vacuum)
    backfill = actions.add_parser(
        "backfill",
        parents=[common],
        help="compute near-duplicate signatures for articles stored before the upgrade",
    )
    backfill.set_defaults(func=_backfill)


def _upgrade(args: argparse.Namespace) -> int:
    with closing(open_store(load_settings(args), Schema.UNCHECKED)) as store:
        before, after = store.upgrade()
    if before == after:
        print(f"database is up to date (revision {after})")
    else:
        print(f"database upgraded from {before or 'empty'} to {after}")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    with closing(open_store(load_settings(args), Schema.UNCHECKED)) as store:
        current, head = store.migration_status()
    state = "up to date" if current == head else "upgrade pending"
    print(f"revision {current or 'none'}; newest {head}: {state}")
    return EXIT_OK


def _prune(args: argparse.Namespace) -> int:
    from monitor.app import utc_now
    from monitor.config import parse_duration
    from monitor.housekeeping import prune

    settings = load_settings(args)
    overrides: dict[str, timedelta] = {}
    for option in ("article_text", "deliveries"):
        value = getattr(args, option)
        if value is not None:
            try:
                overrides[option] = parse_duration(value)
            except ValueError as e:
                flag = "--" + option.replace("_", "-")
                print(f"monitor: {flag}: {e}", file=sys.stderr)
                return EXIT_USAGE
    retention = dataclasses.replace(settings.retention, **overrides)
    with closing(open_store(settings, Schema.CURRENT)) as store:
        before = store.size_bytes()
        dedupe = settings.dedupe
        window = dedupe.window if dedupe.near else None
        report = prune(store, retention, utc_now(), near_window=window)
        if window is not None:
            print(
                f"deleted {report.band_keys} near-duplicate index rows of story roots older "
                f"than [dedupe] window"
            )
        if not report.ran:
            print("nothing to prune: [retention] sets no limit (keep forever)")
            return EXIT_OK
        print(
            f"blanked the text of {report.texts} articles; "
            f"deleted {report.deliveries} sent deliveries"
        )
        after = store.size_bytes()
    print(f"database size {size(before)} → {size(after)}")
    return EXIT_OK


def _vacuum(args: argparse.Namespace) -> int:
    with closing(open_store(load_settings(args), Schema.CURRENT)) as store:
        before = store.size_bytes()
        store.vacuum()
        after = store.size_bytes()
    print(f"database size {size(before)} → {size(after)}")
    return EXIT_OK


def _backfill(args: argparse.Namespace) -> int:
    """The daemon does this in the background after start; this runs it to the end now."""
    from monitor.app import utc_now
    from monitor.housekeeping import backfill

    settings = load_settings(args)
    if not settings.dedupe.near:
        print("nothing to do: [dedupe] near = false")
        return EXIT_OK
    with closing(open_store(settings, Schema.CURRENT)) as store:
        judged = backfill(store, settings.dedupe, utc_now())
    window = settings.dedupe.window
    print(f"computed near-duplicate signatures of {judged} articles (window {window})")
    return EXIT_OK
