"""`monitor feeds …`: list feeds with their health, re-enable one, try a URL, import and
export OPML. `test` and `import` need no valid config; `list` and `enable` refuse an outdated
schema.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path

from monitor.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_USAGE,
    Schema,
    config_path,
    load_settings,
    open_store,
)
from monitor.cli.render import Output, when


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    feeds = commands.add_parser(
        "feeds", parents=[common], help="list, try, enable, import and export feeds"
    )
    actions = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[common], help="configured feeds with their health"
    )
    listing.set_defaults(func=_list)
    test = actions.add_parser(
        "test", parents=[common], help="fetch a URL, show entries and matches"
    )
    test.add_argument("url")
    test.add_argument(
        "--allow-private-network", action="store_true", help="allow internal addresses"
    )
    test.set_defaults(func=_test)
    enable = actions.add_parser("enable", parents=[common], help="re-enable a feed (after a 410)")
    enable.add_argument("id")
    enable.set_defaults(func=_enable)
    imports = actions.add_parser("import", parents=[common], help="OPML → [[feeds]] tables")
    imports.add_argument("opml", type=Path)
    imports.add_argument("--append", type=Path, metavar="FILE", help="append to this file")
    imports.set_defaults(func=_import)
    export = actions.add_parser("export", parents=[common], help="the configured feeds as OPML 2.0")
    export.set_defaults(func=_export)


def _list(args: argparse.Namespace) -> int:
    from monitor.app import utc_now

    settings = load_settings(args)
    now = utc_now()
    with closing(open_store(settings, Schema.CURRENT)) as store:
        rows = {row.id: row for row in store.list_sources() if row.kind == "feed"}
    lines: list[tuple[object, ...]] = []
    for feed in settings.feeds:
        row = rows.get(feed.id)
        url = getattr(feed.source, "url", "")
        if row is None:
            lines.append((feed.id, "new", "-", "-", 0, "-", url))
            continue
        health = "ok" if row.consecutive_failures == 0 else "failing"
        if not row.active:
            health = f"disabled ({row.disabled_reason})"
        lines.append(
            (
                feed.id,
                health,
                when(row.last_success_at, now),
                row.last_result,
                row.consecutive_failures,
                when(row.next_poll_at, now),
                url,
            )
        )
    Output.to().table(
        ("feed", "health", "last success", "last result", "failures", "next poll", "url"), lines
    )
    return EXIT_OK


def _enable(args: argparse.Namespace) -> int:
    from monitor.app import utc_now

    settings = load_settings(args)
    with closing(open_store(settings, Schema.CURRENT)) as store:
        if args.id not in {f.id for f in settings.feeds}:
            print(f"monitor: no feed {args.id!r} in {settings.path}", file=sys.stderr)
            return EXIT_USAGE
        if not store.enable_source(args.id, utc_now()):
            print(f"feed {args.id} has not been polled yet; nothing to enable")
            return EXIT_OK
    print(f"feed {args.id} enabled; it is polled at the next tick")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from monitor.opml import export_opml

    settings = load_settings(args)
    sys.stdout.write(
        export_opml([(f.id, getattr(f.source, "url", ""), f.tags) for f in settings.feeds])
    )
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    """Needs no config: it only turns an OPML file into [[feeds]] tables."""
    from monitor.opml import OpmlError, import_opml

    try:
        text = import_opml(args.opml.read_bytes())
    except (OSError, OpmlError) as e:
        print(f"monitor: {args.opml}: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.append:
        with args.append.open("a", encoding="utf-8") as out:
            out.write("\n" + text)
        print(f"appended {text.count('[[feeds]]')} feeds to {args.append}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _test(args: argparse.Namespace) -> int:
    """Works without a valid config (the watchlist of a valid one adds the matches)."""
    from monitor.config import load_config
    from monitor.errors import ConfigError
    from monitor.models import Watchlist
    from monitor.usecases import probe_feed

    watchlist = Watchlist((), ())
    try:
        watchlist = load_config(config_path(args)).watchlist
    except ConfigError:
        print("monitor: no valid config: showing entries without matching", file=sys.stderr)
    result = probe_feed(args.url, watchlist, allow_private_network=args.allow_private_network)
    if result.error:
        print(f"monitor: {args.url}: {result.error}", file=sys.stderr)
        return EXIT_FAILURES
    for article, topics in result.entries:
        print(f"* {article.title}")
        print(f"  {article.url or '-'}  published {article.published or '-'}")
        print(f"  matches: {', '.join(topics) if topics else '-'}")
    print(f"{len(result.entries)} entries; {result.skipped} skipped; nothing stored")
    return EXIT_OK
