"""`monitor replay`: run a watchlist over stored articles, a dry run unless `--send`; refuses a
database that needs `monitor db upgrade`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from monitor.cli.common import EXIT_OK, EXIT_USAGE, Schema, load_settings, open_store
from monitor.cli.render import Output, progress


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    replay = commands.add_parser(
        "replay", parents=[common], help="run a watchlist over stored articles"
    )
    replay.add_argument("--since", default="30d", help='how far back (default "30d"; "all")')
    replay.add_argument("--topic", help="only this topic")
    replay.add_argument("--watchlist", type=Path, help="use this watchlist instead")
    replay.add_argument(
        "--send", action="store_true", help="queue the alerts not already sent (default: dry run)"
    )
    replay.set_defaults(func=_replay)


def _parse_since(value: str) -> datetime | None:
    from monitor.app import utc_now
    from monitor.config import parse_duration

    if value == "all":
        return None
    return utc_now() - parse_duration(value)


def _replay(args: argparse.Namespace) -> int:
    from monitor.app import make_app
    from monitor.config import load_watchlist
    from monitor.usecases import replay

    settings = load_settings(args)
    try:
        since = _parse_since(args.since)
    except ValueError as e:
        print(f"monitor: --since: {e}", file=sys.stderr)
        return EXIT_USAGE
    watchlist = settings.watchlist
    if args.watchlist:
        watchlist = load_watchlist(args.watchlist, notifiers={n.name for n in settings.notifiers})
    if args.topic and args.topic not in {t.id for t in watchlist.topics}:
        print(f"monitor: no topic {args.topic!r} in the watchlist", file=sys.stderr)
        return EXIT_USAGE
    app = make_app(settings, store=open_store(settings, Schema.CURRENT))
    try:
        app.refresh_database_sources()  # their tags, for the topics' `tags` filter
        with progress("replay") as show:
            report = replay(
                app, watchlist, since=since, topic=args.topic, send=args.send, progress=show
            )
    finally:
        app.close()
    rows = [
        (
            hit.topic_id,
            "already alerted"
            if hit.already_alerted
            else "near-duplicate"
            if hit.near_duplicate
            else ("queued" if args.send else "would alert"),
            hit.article.content_hash[:15],
            hit.article.title[:60],
        )
        for hit in report.hits
    ]
    Output.to().table(("topic", "state", "article", "title"), rows)
    new = sum(1 for hit in report.hits if not hit.already_alerted and not hit.near_duplicate)
    verb = "queued" if args.send else "would be new (dry run; --send queues them)"
    print(
        f"{report.scanned} articles scanned; {len(report.hits)} matches; "
        f"{report.queued if args.send else new} {verb}"
    )
    return EXIT_OK
