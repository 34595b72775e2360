"""`monitor feeds …`: list feeds with their health, add and remove feeds kept in the
database, re-enable one, try a URL, import and export OPML. `test` and `import` (without
`--db`) need no valid config; the commands that read or write rows refuse an outdated schema.

A feed is defined in one place: a `[[feeds]]` table of the config ("toml") or a row added
here ("db", `monitor feeds add`); the same id in both is an error naming both.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Mapping
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_USAGE,
    FROM_CONFIG,
    FROM_DATABASE,
    Schema,
    config_path,
    load_settings,
    open_store,
)
from monitor.cli.render import Output, when

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.models import SourceHealth

# A database feed's keys (`monitor.config.DATABASE_FEED_KEYS`) as the options that set them.
_OPTION = {
    "id": "--id",
    "url": "URL",
    "interval": "--interval",
    "tags": "--tags",
    "first_poll": "--first-poll",
    "max_age": "--max-age",
    "allow_private_network": "--allow-private-network",
}


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    feeds = commands.add_parser(
        "feeds", parents=[common], help="list, add, remove, try, enable, import and export feeds"
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
    add = actions.add_parser(
        "add", parents=[common], help="add a feed to the database (or update, or resume one)"
    )
    add.add_argument("url")
    add.add_argument("--id", help="the feed's id (default: made from the URL's host and path)")
    add.add_argument("--interval", help='time between polls, e.g. "10m"')
    add.add_argument("--tags", help="labels, comma-separated: a,b")
    add.add_argument("--first-poll", help='"skip" (default) or "alert" the first poll\'s items')
    add.add_argument("--max-age", help='older entries are stored, not alerted, e.g. "7d"')
    add.add_argument(
        "--allow-private-network", action="store_true", help="allow internal addresses"
    )
    add.set_defaults(func=_add)
    remove = actions.add_parser(
        "remove", parents=[common], help="stop polling a database feed (its state is kept)"
    )
    remove.add_argument("id")
    remove.set_defaults(func=_remove)
    imports = actions.add_parser(
        "import", parents=[common], help="OPML → [[feeds]] tables, or feeds in the database"
    )
    imports.add_argument("opml", type=Path)
    where = imports.add_mutually_exclusive_group()
    where.add_argument("--append", type=Path, metavar="FILE", help="append to this file")
    where.add_argument("--db", action="store_true", help="add the feeds to the database")
    imports.set_defaults(func=_import)
    export = actions.add_parser(
        "export", parents=[common], help="the feeds (config and database) as OPML 2.0"
    )
    export.set_defaults(func=_export)


def _list(args: argparse.Namespace) -> int:
    from monitor.app import utc_now

    settings = load_settings(args)
    now = utc_now()
    with closing(open_store(settings, Schema.CURRENT)) as store:
        rows = {row.id: row for row in store.list_sources() if row.kind == "feed"}
        kept = store.database_sources()
    feeds: list[tuple[str, str, str, SourceHealth | None]] = [
        (f.id, FROM_CONFIG, f.source.target(), rows.get(f.id)) for f in settings.feeds
    ]
    feeds += [(row.id, FROM_DATABASE, row.url or "", row) for row in kept if row.kind == "feed"]
    lines: list[tuple[object, ...]] = []
    for feed_id, origin, url, row in feeds:
        if row is None:
            lines.append((feed_id, origin, "new", "-", "-", 0, "-", url))
            continue
        health = "ok" if row.consecutive_failures == 0 else "failing"
        if not row.active:
            health = f"disabled ({row.disabled_reason})"
        lines.append(
            (
                feed_id,
                origin,
                health,
                when(row.last_success_at, now),
                row.last_result,
                row.consecutive_failures,
                when(row.next_poll_at, now),
                url,
            )
        )
    Output.to().table(
        ("feed", "from", "health", "last success", "last result", "failures", "next poll", "url"),
        lines,
    )
    return EXIT_OK


def _enable(args: argparse.Namespace) -> int:
    from monitor.app import utc_now

    settings = load_settings(args)
    with closing(open_store(settings, Schema.CURRENT)) as store:
        kept = {row.id for row in store.database_sources()}
        if args.id not in {f.id for f in settings.feeds} | kept:
            print(
                f"monitor: no feed {args.id!r} in {settings.path} or the database", file=sys.stderr
            )
            return EXIT_USAGE
        if not store.enable_source(args.id, utc_now()):
            print(f"feed {args.id} has not been polled yet; nothing to enable")
            return EXIT_OK
    print(f"feed {args.id} enabled; it is polled at the next tick")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    """The config's feeds, then the database's (read only when the config check found some:
    an export needs no database otherwise)."""
    from monitor.opml import export_opml

    settings = load_settings(args)
    feeds = [(f.id, f.source.target(), f.tags) for f in settings.feeds]
    origins = dict.fromkeys((f.id for f in settings.feeds), FROM_CONFIG)
    if settings.database_sources is None:
        print("monitor: the database cannot be read: only the config's feeds", file=sys.stderr)
    elif settings.database_sources:
        with closing(open_store(settings, Schema.CURRENT)) as store:
            kept = store.database_sources()
        for row in kept:
            if row.kind == "feed" and row.url:
                feeds.append((row.id, row.url, tuple((row.options or {}).get("tags", ()))))
                origins[row.id] = FROM_DATABASE
    sys.stdout.write(export_opml(feeds, origins=origins))
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    """Needs no config unless `--db`: it only turns an OPML file into [[feeds]] tables."""
    from monitor.opml import OpmlError, import_opml, read_opml

    try:
        data = args.opml.read_bytes()
        text = import_opml(data)
    except (OSError, OpmlError) as e:
        print(f"monitor: {args.opml}: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.db:
        return _import_to_database(args, [(o.slug, o.url) for o in read_opml(data)])
    if args.append:
        with args.append.open("a", encoding="utf-8") as out:
            out.write("\n" + text)
        print(f"appended {text.count('[[feeds]]')} feeds to {args.append}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


# --- feeds kept in the database ------------------------------------------------------------


def _add(args: argparse.Namespace) -> int:
    """Checks every value as a [[feeds]] table's before it touches the database; exit 2 (a
    configuration error) naming the option otherwise."""
    from monitor.app import utc_now
    from monitor.config import feed_id_for

    settings = load_settings(args)
    options: dict[str, Any] = {"url": args.url}
    for key, value in (
        ("interval", args.interval),
        ("tags", args.tags),
        ("first_poll", args.first_poll),
        ("max_age", args.max_age),
    ):
        if value is not None:
            options[key] = [t.strip() for t in value.split(",")] if key == "tags" else value
    if args.allow_private_network:
        options["allow_private_network"] = True
    if not _valid(args.id or feed_id_for(args.url), options, settings):
        return EXIT_USAGE
    configured = {s.id for s in settings.sources}
    if args.id in configured:
        print(f"monitor: {_both(settings, args.id)}", file=sys.stderr)
        return EXIT_USAGE
    with closing(open_store(settings, Schema.CURRENT)) as store:
        rows = {row.id: row for row in store.list_sources()}
        feed_id = args.id or _free_id(feed_id_for(args.url), args.url, configured, rows)
        same_url = {s.id for s in settings.feeds if s.source.target() == args.url}
        same_url |= {r.id for r in rows.values() if r.url == args.url and r.active}
        outcome = store.add_database_sources([(feed_id, "feed", args.url, options)], utc_now())
    for other in sorted(same_url):
        if other != feed_id:
            print(f"monitor: note: {args.url} is also feed {other}", file=sys.stderr)
    done = outcome[feed_id]
    if done == "disabled":
        row = rows[feed_id]
        print(
            f"feed {feed_id} updated; it stays disabled ({row.disabled_reason}): "
            f"monitor feeds enable {feed_id}"
        )
        return EXIT_OK
    print(
        {
            "added": f"feed {feed_id} added",
            "resumed": f"feed {feed_id} resumed with its earlier state",
            "updated": f"feed {feed_id} updated",
            "reset": f"feed {feed_id} added (its id's earlier source had another URL: it "
            "starts afresh)",
        }[done]
        + "; a running monitor polls it at its next tick"
    )
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    """Refused for a feed of the config, or one a topic's `sources` names (exit 2)."""
    from monitor.app import utc_now

    settings = load_settings(args)
    if args.id in {s.id for s in settings.sources}:
        print(
            f"monitor: feed {args.id} is defined in {settings.path}: delete its table there",
            file=sys.stderr,
        )
        return EXIT_USAGE
    topics = [t.id for t in settings.watchlist.topics if args.id in t.sources]
    if topics:
        print(
            f"monitor: feed {args.id} is named in `sources` of topic {', '.join(topics)} "
            f"({settings.watchlist_path}): remove it there first",
            file=sys.stderr,
        )
        return EXIT_USAGE
    with closing(open_store(settings, Schema.CURRENT)) as store:
        outcome = store.remove_database_source(args.id, utc_now())
    if outcome != "removed":
        print(f"monitor: no feed {args.id!r} in the database", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"feed {args.id} removed: no longer polled; its state, articles and alerts are kept "
        f"(`monitor feeds add URL --id {args.id}` resumes it)"
    )
    return EXIT_OK


def _import_to_database(args: argparse.Namespace, outlines: list[tuple[str, str]]) -> int:
    """Every outline (its title's slug, its URL) as a database feed, all or none: each URL
    is checked first; an id taken by the config, by another outline or by a source of another
    URL gets a numeric suffix."""
    from monitor.app import utc_now

    settings = load_settings(args)
    checked = [_valid(i, {"url": url}, settings, f"{args.opml}: {url}: ") for i, url in outlines]
    if not all(checked):  # every problem reported, then nothing written
        return EXIT_USAGE
    configured = {s.id for s in settings.sources}
    with closing(open_store(settings, Schema.CURRENT)) as store:
        rows = {row.id: row for row in store.list_sources()}
        batch: list[tuple[str, str, str, Mapping[str, Any]]] = []
        used: set[str] = set()
        for feed_id, url in outlines:
            chosen = _free_id(feed_id, url, configured | used, rows)
            used.add(chosen)
            batch.append((chosen, "feed", url, {"url": url}))
        outcome = store.add_database_sources(batch, utc_now())
    counts = {done: list(outcome.values()).count(done) for done in set(outcome.values())}
    details = ", ".join(f"{n} {done}" for done, n in sorted(counts.items()))
    print(f"{len(outcome)} feeds in the database from {args.opml} ({details})")
    return EXIT_OK


def _valid(feed_id: str, options: Mapping[str, Any], settings: Settings, prefix: str = "") -> bool:
    """Check a database feed as the config checks a table; print each problem under the
    option that set the value (`--interval: invalid duration …`)."""
    from monitor.config import load_database_feed
    from monitor.errors import ConfigError

    defaults = settings.defaults
    try:
        load_database_feed(feed_id, options, defaults.poll_interval, defaults.broken_after)
    except ConfigError as e:
        for problem in e.problems:
            message = problem.message.removeprefix(f"{problem.key}: ")
            print(
                f"monitor: {prefix}{_OPTION.get(problem.key, problem.key)}: {message}",
                file=sys.stderr,
            )
        return False
    return True


def _free_id(base: str, url: str, taken: Collection[str], rows: Mapping[str, SourceHealth]) -> str:
    """`base`, else `base-2`, `base-3`, …: the first id that no config source has (`taken`)
    and no row of another URL has (a row of this URL is the same feed: updated or resumed)."""
    feed_id, n = base, 2
    while feed_id in taken or (feed_id in rows and rows[feed_id].url != url):
        feed_id, n = f"{base}-{n}", n + 1
    return feed_id


def _both(settings: Settings, source_id: str) -> str:
    return (
        f"source id {source_id!r} is defined in {settings.path}; a feed in the database "
        "cannot have it too: choose another --id, or delete the table there first"
    )


def _test(args: argparse.Namespace) -> int:
    """Works without a valid config (the watchlist of a valid one adds the matches)."""
    from monitor.app import fetch_limits
    from monitor.config import load_config
    from monitor.errors import ConfigError
    from monitor.models import Watchlist
    from monitor.usecases import probe_feed

    watchlist = Watchlist((), ())
    limits = None  # the fetcher's defaults
    try:
        settings = load_config(config_path(args))
        watchlist, limits = settings.watchlist, fetch_limits(settings.fetch)
    except ConfigError:
        print("monitor: no valid config: showing entries without matching", file=sys.stderr)
    result = probe_feed(
        args.url, watchlist, allow_private_network=args.allow_private_network, limits=limits
    )
    if result.error:
        print(f"monitor: {args.url}: {result.error}", file=sys.stderr)
        return EXIT_FAILURES
    for article, topics in result.entries:
        print(f"* {article.title}")
        print(f"  {article.url or '-'}  published {article.published or '-'}")
        print(f"  matches: {', '.join(topics) if topics else '-'}")
    print(f"{len(result.entries)} entries; {result.skipped} skipped; nothing stored")
    return EXIT_OK
