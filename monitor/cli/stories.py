"""`monitor stories`: recent near-duplicate stories with their copies and sources; read-only,
so it refuses a database that needs `monitor db upgrade`.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing

from monitor.cli.common import EXIT_OK, EXIT_USAGE, Schema, load_settings, open_store
from monitor.cli.render import Output


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    stories = commands.add_parser(
        "stories", parents=[common], help="recent stories with their copies and sources"
    )
    stories.add_argument("--topic", metavar="ID", help="only stories that matched this topic")
    stories.add_argument("--since", default="2d", help='how far back (default "2d")')
    stories.add_argument("--limit", type=int, default=50, help="stories shown (default 50)")
    stories.add_argument("--json", action="store_true", help="machine-readable output")
    stories.set_defaults(func=_stories)


def _stories(args: argparse.Namespace) -> int:
    from monitor.app import utc_now
    from monitor.config import parse_duration
    from monitor.text import one_line

    try:
        since = utc_now() - parse_duration(args.since)
    except ValueError as e:
        print(f"monitor: --since: {e}", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings(args)
    with closing(open_store(settings, Schema.CURRENT)) as store:
        found = store.stories(since, topic=args.topic, limit=args.limit)
    if args.json:
        out = [
            {
                "id": story.id,
                "topics": list(story.topics),
                "copies": [
                    {
                        "content_hash": c.content_hash,
                        "source": c.source,
                        "title": c.title,
                        "first_seen": c.first_seen.isoformat(),
                        "similarity": c.similarity,
                        "alerted": list(c.topics),
                    }
                    for c in story.copies
                ],
            }
            for story in found
        ]
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    rows = []
    for story in found:
        root, *copies = story.copies or ()
        sources = sorted({c.source for c in story.copies})
        rows.append(
            (
                story.id,
                root.first_seen.isoformat(timespec="minutes") if story.copies else "-",
                len(copies),
                ",".join(sources) or "-",
                ",".join(story.topics) or "-",
                one_line(root.title, 60) if story.copies else "-",
            )
        )
    Output.to().table(("story", "first seen", "copies", "sources", "topics", "title"), rows)
    return EXIT_OK
