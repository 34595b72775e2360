"""`monitor status`: sources (the config's and the database's, "from" toml or db), daemon
instances, the alert queue and the database at a glance; read-only, so it refuses a database
that needs `monitor db upgrade`.
"""

from __future__ import annotations

import argparse
from contextlib import closing

from monitor.cli.common import (
    EXIT_OK,
    FROM_CONFIG,
    FROM_DATABASE,
    Schema,
    load_settings,
    open_store,
)
from monitor.cli.render import Output, size, when


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    status = commands.add_parser(
        "status", parents=[common], help="sources, alert queue and database at a glance"
    )
    status.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from monitor.app import utc_now

    settings = load_settings(args)
    now = utc_now()
    with closing(open_store(settings, Schema.CURRENT)) as store:
        rows = {row.id: row for row in store.list_sources()}
        queue = store.queue_summary(now)
        database_size = store.size_bytes()
        articles = store.article_count()
        instances = store.list_instances()
        kept = store.database_sources()
    configured = [("folder", f.id, FROM_CONFIG) for f in settings.folders] + [
        ("feed", f.id, FROM_CONFIG) for f in settings.feeds
    ]
    configured += [(row.kind, row.id, FROM_DATABASE) for row in kept]
    sources: list[tuple[object, ...]] = []
    for kind, source_id, origin in configured:
        row = rows.get(source_id)
        if row is None:
            sources.append((kind, source_id, origin, "never", "-", 0, "-", "-"))
            continue
        result = row.last_result or "-"
        if not row.active:
            result = f"disabled: {row.disabled_reason}"
        next_poll = "-" if kind == "folder" else when(row.next_poll_at, now)
        error = (row.last_error or "-")[:60] if row.consecutive_failures else "-"
        sources.append(
            (
                kind,
                source_id,
                origin,
                when(row.last_poll_at, now),
                result,
                row.consecutive_failures,
                next_poll,
                error,
            )
        )
    out = Output.to()
    out.table(
        ("kind", "source", "from", "last poll", "result", "failures", "next poll", "last error"),
        sources,
    )
    if instances:
        print()
        out.table(
            ("instance", "started", "last heartbeat", "last reload"),
            [
                (
                    i["name"],
                    when(i["started_at"], now),
                    when(i["heartbeat_at"], now),
                    f"{i['reload_result']} ({when(i['reload_at'], now)})"
                    if i["reload_result"]
                    else "-",
                )
                for i in instances
            ],
        )
    print()
    out.table(
        ("pending", "failing", "dead", "delivered 24h", "articles", "database size"),
        [
            (
                queue["pending"],
                queue["failing"],
                queue["dead"],
                queue["sent_24h"],
                articles,
                size(database_size),
            )
        ],
    )
    return EXIT_OK
