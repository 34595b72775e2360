"""`monitor topics`: each topic with its alert counts (24 h, 7 days), retired topics included;
read-only, so it refuses a database that needs `monitor db upgrade`.
"""

from __future__ import annotations

import argparse
from contextlib import closing

from monitor.cli.common import EXIT_OK, Schema, load_settings, open_store
from monitor.cli.render import Output


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    topics = commands.add_parser(
        "topics", parents=[common], help="topics with their alert counts (24 h, 7 days)"
    )
    topics.set_defaults(func=_topics)


def _topics(args: argparse.Namespace) -> int:
    from monitor.app import utc_now

    settings = load_settings(args)
    with closing(open_store(settings, Schema.CURRENT)) as store:
        counts = store.topic_counts(utc_now())
    rows = [(t.id, t.title, *counts.get(t.id, (0, 0))) for t in settings.watchlist.topics]
    retired = sorted(set(counts) - {t.id for t in settings.watchlist.topics})
    rows += [(topic, "(not in the watchlist)", *counts[topic]) for topic in retired]
    Output.to().table(("topic", "title", "alerts 24h", "alerts 7d"), rows)
    return EXIT_OK
