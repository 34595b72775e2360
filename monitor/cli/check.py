"""`monitor check`: validate the config and the watchlist and print a summary with warnings.
It reads the ids of the feeds kept in the database, when there is one (a table may not reuse
them; topics may name them), and never creates, migrates or changes the database.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from monitor.cli.common import EXIT_FAILURES, EXIT_OK, load_settings
from monitor.cli.render import duration, mask_url

if TYPE_CHECKING:
    from monitor.config import Settings


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    check = commands.add_parser(
        "check", parents=[common], help="validate the config and the watchlist"
    )
    check.add_argument(
        "--queries",
        action="store_true",
        help="also print each topic's all/any/none as a query, and what a query cannot say",
    )
    check.set_defaults(func=_check)


def _http_warnings(settings: Settings) -> list[str]:
    """Absolute links (the Atom feeds') come from `public_url`, else the listen address:
    a wildcard address is none a reader can reach."""
    from monitor.config import parse_listen

    http = settings.http
    if not http.listen or http.public_url:
        return []
    host, port = parse_listen(http.listen)
    if host not in ("0.0.0.0", "::"):
        return []
    shown = f"[{host}]" if ":" in host else host
    return [
        f"[http] listen = {http.listen!r} is a wildcard address and [http] public_url is not "
        f"set: the feeds' absolute links would point at http://{shown}:{port}; set public_url "
        "to the address people reach the page by"
    ]


def _check(args: argparse.Namespace) -> int:
    # Not through usecases: that imports the app, the store and the fetcher, half a second
    # of imports a config check never uses.
    from monitor.advice import find_warnings

    settings = load_settings(args)
    watchlist = settings.watchlist
    print(f"config     {settings.path}")
    print(f"database   {mask_url(settings.database)}")
    print(
        f"watchlist  {settings.watchlist_path}: {len(watchlist.topics)} topics, "
        f"{len(watchlist.aliases)} alias classes"
    )
    for folder in settings.folders:
        path = folder.source.target() or "?"
        print(f"folder     {folder.id}: {path} every {duration(folder.interval.total_seconds())}")
    for notifier in settings.notifiers:
        print(f"notifier   {notifier.name} ({notifier.type})")
    warnings = find_warnings(watchlist)
    warnings += _http_warnings(settings)
    if settings.database_sources is None:
        warnings.append(
            "the database cannot be read: ids not checked against its feeds, nor topics' `sources`"
        )
    else:
        print(f"feeds      {len(settings.feeds)} in the config, "
              f"{len(settings.database_sources)} in the database")  # fmt: skip
    for warning in warnings:
        print(f"warning    {warning}")
    if args.queries:
        from monitor.query import topic_query

        for topic in watchlist.topics:
            query, left_out = topic_query(topic)
            print(f"topic      {topic.id}: {query if query is not None else '(no query)'}")
            if left_out:
                print(f"           not expressible as a query: {', '.join(left_out)}")
    if settings.http.allow_edit:
        from monitor.config import watchlist_unwritable

        problem = watchlist_unwritable(settings.watchlist_path)
        if problem is not None:
            print(
                f"error      [http] allow_edit = true but {problem}: the editor saves by writing "
                "a new file in the watchlist's folder and renaming it (README, "
                '"Watchlist editor", has the systemd set-up)'
            )
            return EXIT_FAILURES
        print(f"editor     /watchlist saves {os.path.realpath(settings.watchlist_path)}")
    print(f"ok ({len(warnings)} warnings)")
    return EXIT_OK
