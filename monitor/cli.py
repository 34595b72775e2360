"""Command line: argument parsing, printing, exit codes (0 ok, 1 completed with failures,
2 usage or config error). Thin calls into the layers below; heavy imports happen inside the
command that needs them so `monitor --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.usecases import Explained
    from monitor.config import Settings
    from monitor.match import TermResult

log = logging.getLogger("monitor")

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Watch folders and feeds; alert when articles match your topics.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (default: $MONITOR_CONFIG, else config/monitor.toml)",
    )
    parser.add_argument(
        "--instance",
        help="this process's instance name (default: $MONITOR_INSTANCE, else the host name)",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="overrides log_level of the config file",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text (default) or json: one object per line with the key=value pairs as fields",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon (or one pass with --once)")
    run.add_argument("--once", action="store_true", help="one pass over every source, then exit")
    run.add_argument(
        "--retry-now",
        action="store_true",
        help="with --once: also retry deliveries waiting for their next attempt",
    )

    commands.add_parser("check", help="validate the config and the watchlist")

    explain = commands.add_parser(
        "explain", help="show how files, feeds or stored articles match every topic (no writes)"
    )
    explain.add_argument("targets", nargs="*", metavar="FILE|URL")
    explain.add_argument(
        "--article",
        action="append",
        default=[],
        metavar="HASH",
        help="a stored article by (a prefix of) its content hash",
    )
    explain.add_argument("--watchlist", type=Path, help="use this watchlist instead")
    explain.add_argument(
        "--allow-private-network", action="store_true", help="allow a URL on an internal address"
    )
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.add_argument("--no-color", action="store_true", help="no colours even on a terminal")

    commands.add_parser("status", help="sources, alert queue and database at a glance")

    replay = commands.add_parser("replay", help="run a watchlist over stored articles")
    replay.add_argument("--since", default="30d", help='how far back (default "30d"; "all")')
    replay.add_argument("--topic", help="only this topic")
    replay.add_argument("--watchlist", type=Path, help="use this watchlist instead")
    replay.add_argument(
        "--send", action="store_true", help="queue the alerts not already sent (default: dry run)"
    )

    commands.add_parser("topics", help="topics with their alert counts (24 h, 7 days)")

    feeds = commands.add_parser("feeds", help="list, try, enable, import and export feeds")
    feed_commands = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    feed_commands.add_parser("list", help="configured feeds with their health")
    feed_test = feed_commands.add_parser("test", help="fetch a URL, show entries and matches")
    feed_test.add_argument("url")
    feed_test.add_argument(
        "--allow-private-network", action="store_true", help="allow internal addresses"
    )
    feed_enable = feed_commands.add_parser("enable", help="re-enable a feed (after a 410)")
    feed_enable.add_argument("id")
    feed_import = feed_commands.add_parser("import", help="OPML → [[feeds]] tables")
    feed_import.add_argument("opml", type=Path)
    feed_import.add_argument("--append", type=Path, metavar="FILE", help="append to this file")
    feed_commands.add_parser("export", help="the configured feeds as OPML 2.0")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply pending schema migrations")
    db_commands.add_parser("status", help="show the schema revision")
    prune = db_commands.add_parser("prune", help="apply [retention] now")
    prune.add_argument("--article-text", metavar="AGE", help='overrides [retention], e.g. "90d"')
    prune.add_argument("--deliveries", metavar="AGE", help='overrides [retention], e.g. "30d"')
    db_commands.add_parser("vacuum", help="give freed space back to the file system")

    notifiers = commands.add_parser("notifiers", help="list, test and re-enable notifiers")
    n_commands = notifiers.add_subparsers(dest="notifiers_command", required=True, metavar="ACTION")
    n_commands.add_parser("list", help="table of notifiers: name, type, target, state")
    n_test = n_commands.add_parser("test", help="send a sample alert through one notifier")
    n_test.add_argument("name")
    n_enable = n_commands.add_parser("enable", help="re-enable a notifier disabled by HTTP 410")
    n_enable.add_argument("name")

    alerts = commands.add_parser("alerts", help="list undelivered alerts; requeue dead ones")
    a_commands = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    a_list = a_commands.add_parser("list", help="pending and dead deliveries")
    a_list.add_argument("--dead", action="store_true", help="only dead deliveries")
    a_retry = a_commands.add_parser("retry", help="requeue dead deliveries (attempts kept)")
    target = a_retry.add_mutually_exclusive_group(required=True)
    target.add_argument("ids", nargs="*", default=[], metavar="ID", help="msg_… or alert_… ids")
    target.add_argument("--all-dead", action="store_true", help="every dead delivery")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config_path = args.config or Path(os.environ.get("MONITOR_CONFIG", "config/monitor.toml"))
    _setup_logging(args.log_level or "info", args.log_format)
    from monitor.errors import ConfigError, StoreError

    try:
        if args.command == "explain":
            return _explain(args, config_path)
        if args.command == "feeds" and args.feeds_command in ("test", "import"):
            return _feeds_without_config(args, config_path)
        settings = _load(config_path)
        if args.log_level is None:
            logging.getLogger().setLevel(settings.log_level.upper())
        if args.command == "check":
            return _check(settings)
        if args.command == "db":
            return _db(args, settings)
        if args.command == "status":
            return _status(settings)
        if args.command == "replay":
            return _replay(args, settings)
        if args.command == "topics":
            return _topics(settings)
        if args.command == "feeds":
            return _feeds(args, settings)
        if args.command == "notifiers":
            return _notifiers(args, settings)
        if args.command == "alerts":
            return _alerts(args, settings)
        return _run(args, settings)
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


def _load(config_path: Path) -> Settings:
    from monitor.config import load_config

    return load_config(config_path)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import make_app

    app = make_app(settings, instance=args.instance or os.environ.get("MONITOR_INSTANCE"))
    if not args.once:
        if args.retry_now:
            print("monitor: --retry-now needs --once", file=sys.stderr)
            return EXIT_USAGE
        from monitor.daemon import Daemon

        return Daemon(app, reload_config=lambda: _load(settings.path)).run()
    try:
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


def _check(settings: Settings) -> int:
    from monitor.usecases import watchlist_warnings

    watchlist = settings.watchlist
    print(f"config     {settings.path}")
    print(f"database   {_mask_url(settings.database)}")
    print(
        f"watchlist  {settings.watchlist_path}: {len(watchlist.topics)} topics, "
        f"{len(watchlist.aliases)} alias classes"
    )
    for folder in settings.folders:
        path = getattr(folder.source, "path", "?")
        print(f"folder     {folder.id}: {path} every {_duration(folder.interval.total_seconds())}")
    for notifier in settings.notifiers:
        print(f"notifier   {notifier.name} ({notifier.type})")
    warnings = watchlist_warnings(watchlist)
    for warning in warnings:
        print(f"warning    {warning}")
    print(f"ok ({len(warnings)} warnings)")
    return EXIT_OK


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.store import Store

    if args.db_command in ("prune", "vacuum"):
        return _db_housekeeping(args, settings)
    store = Store.open(settings.database)
    try:
        if args.db_command == "upgrade":
            before, after = store.upgrade()
            if before == after:
                print(f"database is up to date (revision {after})")
            else:
                print(f"database upgraded from {before or 'empty'} to {after}")
        else:
            current, head = store.migration_status()
            state = "up to date" if current == head else "upgrade pending"
            print(f"revision {current or 'none'}; newest {head}: {state}")
    finally:
        store.close()
    return EXIT_OK


def _db_housekeeping(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    from monitor.app import utc_now
    from monitor.housekeeping import prune
    from monitor.config import parse_duration

    retention = settings.retention
    if args.db_command == "prune":
        overrides = {}
        for option in ("article_text", "deliveries"):
            value = getattr(args, option)
            if value is not None:
                try:
                    overrides[option] = parse_duration(value)
                except ValueError as e:
                    flag = "--" + option.replace("_", "-")
                    print(f"monitor: {flag}: {e}", file=sys.stderr)
                    return EXIT_USAGE
        retention = dataclasses.replace(retention, **overrides)
    store = _open_store(settings)
    if store is None:
        return EXIT_FAILURES
    try:
        before = store.size_bytes()
        if args.db_command == "vacuum":
            store.vacuum()
        else:
            report = prune(store, retention, utc_now())
            if not report.ran:
                print("nothing to prune: [retention] sets no limit (keep forever)")
                return EXIT_OK
            print(
                f"blanked the text of {report.texts} articles; "
                f"deleted {report.deliveries} sent deliveries"
            )
        after = store.size_bytes()
    finally:
        store.close()
    print(f"database size {_bytes(before)} → {_bytes(after)}")
    return EXIT_OK


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in (headers, *rows)
    ]
    return "\n".join(lines) + "\n"


def _notifiers(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import utc_now
    from monitor.usecases import try_notifier
    from monitor.errors import NotifyError
    from monitor.store import Store

    by_name = {n.name: n for n in settings.notifiers}
    if args.notifiers_command == "test":
        chosen = by_name.get(args.name)
        if chosen is None:
            print(
                f"monitor: no notifier named {args.name!r} (configured: "
                f"{', '.join(by_name) or 'none'})",
                file=sys.stderr,
            )
            return EXIT_USAGE
        try:
            try_notifier(chosen.notifier, utc_now())
        except NotifyError as e:
            kind = "permanent" if e.permanent else "retryable"
            print(f"FAILED {args.name} ({chosen.type}): {e.reason} [{kind}]")
            return EXIT_FAILURES
        finally:
            chosen.notifier.close()
        print(f"ok: sample alert sent through {args.name} ({chosen.type})")
        return EXIT_OK
    store = Store.open(settings.database)
    try:
        store.upgrade()
        if args.notifiers_command == "enable":
            if store.enable_notifier(args.name):
                print(f"enabled {args.name}: its pending deliveries go out at the next pass")
            else:
                print(f"{args.name} was not disabled")
            return EXIT_OK
        disabled = store.disabled_notifiers()
    finally:
        store.close()
    rows = []
    for n in settings.notifiers:
        state = "enabled"
        if n.name in disabled:
            d = disabled[n.name]
            state = f"DISABLED since {d.disabled_at.isoformat(timespec='seconds')}: {d.reason}"
        if n.digest is not None:
            state += f" (digest every {_duration(n.digest.total_seconds())})"
        rows.append((n.name, n.type, n.notifier.target(), state))
    sys.stdout.write(_table(("NAME", "TYPE", "TARGET", "STATE"), rows))
    return EXIT_OK


def _alerts(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import utc_now
    from monitor.models import DeliveryStatus
    from monitor.store import Store

    store = Store.open(settings.database)
    try:
        store.upgrade()
        if args.alerts_command == "retry":
            ids = store.requeue(utc_now(), ids=args.ids, all_dead=args.all_dead)
            for delivery_id in ids:
                print(f"requeued {delivery_id}")
            missing = [i for i in args.ids if i not in ids]
            if not ids or (missing and not any(i.startswith("alert_") for i in args.ids)):
                print(
                    "monitor: no dead delivery matched " + (" ".join(missing) or "--all-dead"),
                    file=sys.stderr,
                )
                return EXIT_FAILURES
            print(f"{len(ids)} deliveries requeued; they go out at the next pass")
            return EXIT_OK
        statuses = (
            [DeliveryStatus.DEAD] if args.dead else [DeliveryStatus.PENDING, DeliveryStatus.DEAD]
        )
        deliveries = store.list_deliveries(statuses)
    finally:
        store.close()
    rows = [
        (
            d.id,
            d.status.value,
            d.notifier,
            str(d.attempts),
            d.next_attempt_at.isoformat(timespec="seconds") if d.status == "pending" else "-",
            d.alert.topic.id,
            d.alert.article.title[:40],
            (d.last_error or "")[:60],
        )
        for d in deliveries
    ]
    headers = ("DELIVERY", "STATUS", "NOTIFIER", "ATTEMPTS", "NEXT", "TOPIC", "TITLE", "ERROR")
    sys.stdout.write(_table(headers, rows))
    print(f"{len(rows)} deliveries")
    return EXIT_OK


def _explain(args: argparse.Namespace, config_path: Path) -> int:
    from monitor.usecases import explain_files, explain_stored, explain_url
    from monitor.config import load_config, load_watchlist

    if not args.targets and not args.article:
        print("monitor: explain needs a FILE, a URL or --article HASH", file=sys.stderr)
        return EXIT_USAGE
    settings = None
    if args.watchlist:
        watchlist = load_watchlist(args.watchlist)
        if config_path.exists():
            settings = load_config(config_path)
    else:
        settings = load_config(config_path)
        watchlist = settings.watchlist
    folders = settings.folders if settings else ()
    results: list[Explained] = []
    for target in args.targets:
        if re.match(r"(?i)^https?://", target):
            results += explain_url(
                target, watchlist, allow_private_network=args.allow_private_network
            )
        else:
            results += explain_files([Path(target)], watchlist, folders)
    if args.article:
        if settings is None:
            print("monitor: --article needs the config (for the database)", file=sys.stderr)
            return EXIT_USAGE
        store = _open_store(settings)
        if store is None:
            return EXIT_FAILURES
        try:
            for prefix in args.article:
                results += explain_stored(store, prefix, watchlist)
        finally:
            store.close()
    if args.json:
        json.dump([_explained_json(r) for r in results], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        color = sys.stdout.isatty() and not args.no_color and "NO_COLOR" not in os.environ
        for result in results:
            sys.stdout.write(_explained_text(result, color))
    return EXIT_FAILURES if any(r.error for r in results) else EXIT_OK


def _explained_json(result: Explained) -> dict[str, Any]:
    article = result.article

    def terms(results: Sequence[TermResult]) -> list[dict[str, Any]]:
        return [
            {
                "term": r.term,
                "hits": [{"field": h.field, "found": h.found, "offset": h.start} for h in r.hits],
            }
            for r in results
        ]

    return {
        "target": result.target,
        "error": result.error,
        "article": None
        if article is None
        else {
            "title": article.title,
            "url": article.url,
            "published": article.published.isoformat() if article.published else None,
            "content_hash": article.content_hash,
            "characters": len(article.text),
        },
        "topics": [
            {
                "id": v.topic.id,
                "title": v.topic.title,
                "matched": v.matched,
                "reason": v.reason,
                "all": [terms(group) for group in v.groups],
                "any": terms(v.any),
                "vetoes": terms(v.vetoes),
                "regex": terms(v.regex),
            }
            for v in result.verdicts
        ],
    }


def _explained_text(result: Explained, color: bool) -> str:
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    lines = [paint(result.target, "1")]
    if result.article is None:
        lines.append(f"  skipped: {result.error}")
        return "\n".join(lines) + "\n\n"
    article = result.article
    lines.append(f"  title     {article.title}")
    lines.append(f"  hash      {article.content_hash}")
    if article.url:
        lines.append(f"  url       {article.url}")
    if article.published:
        lines.append(f"  published {article.published.isoformat()}")

    def term_line(label: str, results: Sequence[TermResult]) -> str:
        parts = []
        for r in results:
            if r.hits:
                found = ", ".join(dict.fromkeys(f"{h.found} ({h.field})" for h in r.hits))
                parts.append(f"{paint(r.term, '32')} → {found}")
            else:
                parts.append(paint(r.term, "2"))
        return f"      {label}: " + " | ".join(parts)

    for verdict in result.verdicts:
        mark = paint("✔", "32") if verdict.matched else paint("✘", "31")
        lines.append(f"  {mark} {verdict.topic.id} ({verdict.topic.title}): {verdict.reason}")
        shown = 0
        for term in [*(r for g in verdict.groups for r in g), *verdict.any, *verdict.vetoes]:
            for hit in term.hits[:1]:
                if shown < 4:
                    source = article.title if hit.field == "title" else article.text
                    lines.append(f"      {hit.field}: {_in_context(source, hit, paint)}")
                    shown += 1
        for index, group in enumerate(verdict.groups, 1):
            lines.append(term_line(f"all[{index}]", group))
        if verdict.any:
            lines.append(term_line("any", verdict.any))
        if verdict.regex:
            lines.append(term_line("regex", verdict.regex))
        if verdict.vetoes:
            lines.append(term_line(paint("none", "31"), verdict.vetoes))
    return "\n".join(lines) + "\n\n"


def _in_context(text: str, hit: Any, paint: Any) -> str:
    """The hit inside ~30 characters either side, on one line, highlighted (or [bracketed])."""
    from monitor.text import one_line

    start, end = hit.start, hit.start + len(hit.found)
    before = one_line(text[max(0, start - 30) : start])
    after = one_line(text[end : end + 30])
    marked = paint(hit.found, "1;33") if "\x1b" in paint("x", "1") else f"[{hit.found}]"
    return f"…{before}{marked}{after}…"


def _mask_url(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# --- status and feeds -------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _when(moment: Any, now: Any) -> str:
    if moment is None:
        return "-"
    seconds = (moment - now).total_seconds()
    label = _duration(round(abs(seconds)))
    return f"in {label}" if seconds > 0 else f"{label} ago"


def _open_store(settings: Settings) -> Any:
    from monitor.store import Store

    store = Store.open(settings.database)
    current, head = store.migration_status()
    if current != head:
        store.close()
        print(
            f"monitor: database schema is {current or 'empty'}, this monitor needs {head}: "
            "run `monitor db upgrade` (or start the daemon once)",
            file=sys.stderr,
        )
        return None
    return store


def _status(settings: Settings) -> int:
    from monitor.app import utc_now

    store = _open_store(settings)
    if store is None:
        return EXIT_FAILURES
    now = utc_now()
    try:
        rows = {row.id: row for row in store.list_sources()}
        queue = store.queue_summary(now)
        size = store.size_bytes()
        articles = store.article_count()
        instances = store.list_instances()
    finally:
        store.close()
    configured = [("folder", f.id) for f in settings.folders] + [
        ("feed", f.id) for f in settings.feeds
    ]
    lines = []
    for kind, source_id in configured:
        row = rows.get(source_id)
        if row is None:
            lines.append((kind, source_id, "never", "-", 0, "-", "-"))
            continue
        result = row.last_result or "-"
        if not row.active:
            result = f"disabled: {row.disabled_reason}"
        next_poll = "-" if kind == "folder" else _when(row.next_poll_at, now)
        error = (row.last_error or "-")[:60] if row.consecutive_failures else "-"
        lines.append(
            (
                kind,
                source_id,
                _when(row.last_poll_at, now),
                result,
                row.consecutive_failures,
                next_poll,
                error,
            )
        )
    sys.stdout.write(
        table(
            ("kind", "source", "last poll", "result", "failures", "next poll", "last error"), lines
        )
    )
    if instances:
        print()
        sys.stdout.write(
            table(
                ("instance", "started", "last heartbeat", "last reload"),
                [
                    (
                        i["name"],
                        _when(i["started_at"], now),
                        _when(i["heartbeat_at"], now),
                        f"{i['reload_result']} ({_when(i['reload_at'], now)})"
                        if i["reload_result"]
                        else "-",
                    )
                    for i in instances
                ],
            )
        )
    print()
    sys.stdout.write(
        table(
            ("pending", "failing", "dead", "delivered 24h", "articles", "database size"),
            [
                (
                    queue["pending"],
                    queue["failing"],
                    queue["dead"],
                    queue["sent_24h"],
                    articles,
                    _bytes(size),
                )
            ],
        )
    )
    return EXIT_OK


def _bytes(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _feeds(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import utc_now

    if args.feeds_command == "export":
        from monitor.opml import export_opml

        sys.stdout.write(
            export_opml([(f.id, getattr(f.source, "url", ""), f.tags) for f in settings.feeds])
        )
        return EXIT_OK
    store = _open_store(settings)
    if store is None:
        return EXIT_FAILURES
    now = utc_now()
    try:
        if args.feeds_command == "enable":
            if args.id not in {f.id for f in settings.feeds}:
                print(f"monitor: no feed {args.id!r} in {settings.path}", file=sys.stderr)
                return EXIT_USAGE
            if not store.enable_source(args.id, now):
                print(f"feed {args.id} has not been polled yet; nothing to enable")
                return EXIT_OK
            print(f"feed {args.id} enabled; it is polled at the next tick")
            return EXIT_OK
        rows = {row.id: row for row in store.list_sources() if row.kind == "feed"}
    finally:
        store.close()
    lines = []
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
                _when(row.last_success_at, now),
                row.last_result,
                row.consecutive_failures,
                _when(row.next_poll_at, now),
                url,
            )
        )
    sys.stdout.write(
        table(
            ("feed", "health", "last success", "last result", "failures", "next poll", "url"), lines
        )
    )
    return EXIT_OK


def _feeds_without_config(args: argparse.Namespace, config_path: Path) -> int:
    """`feeds test` and `feeds import` work without a valid config (a watchlist helps)."""
    if args.feeds_command == "import":
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
    from monitor.usecases import probe_feed
    from monitor.config import load_config
    from monitor.errors import ConfigError
    from monitor.models import Watchlist

    watchlist = Watchlist((), ())
    try:
        watchlist = load_config(config_path).watchlist
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


def _parse_since(value: str) -> Any:
    from monitor.app import utc_now
    from monitor.config import parse_duration

    if value == "all":
        return None
    return utc_now() - parse_duration(value)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import make_app
    from monitor.usecases import replay
    from monitor.config import load_watchlist

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
    store = _open_store(settings)
    if store is None:
        return EXIT_FAILURES
    app = make_app(settings, store=store)
    try:
        report = replay(
            app,
            watchlist,
            since=since,
            topic=args.topic,
            send=args.send,
            progress=_progress_bar("replay"),
        )
    finally:
        app.close()
    rows = [
        (
            hit.topic_id,
            "already alerted"
            if hit.already_alerted
            else ("queued" if args.send else "would alert"),
            hit.article.content_hash[:15],
            hit.article.title[:60],
        )
        for hit in report.hits
    ]
    sys.stdout.write(table(("topic", "state", "article", "title"), rows))
    new = sum(1 for hit in report.hits if not hit.already_alerted)
    verb = "queued" if args.send else "would be new (dry run; --send queues them)"
    print(
        f"{report.scanned} articles scanned; {len(report.hits)} matches; "
        f"{report.queued if args.send else new} {verb}"
    )
    return EXIT_OK


def _progress_bar(label: str) -> Any:
    """A one-line progress bar on a terminal (stderr); silent when redirected."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if total and (done == total or done % 50 == 0):
            width = 30
            filled = width * done // total
            sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return show


def _topics(settings: Settings) -> int:
    from monitor.app import utc_now

    store = _open_store(settings)
    if store is None:
        return EXIT_FAILURES
    try:
        counts = store.topic_counts(utc_now())
    finally:
        store.close()
    rows = [(t.id, t.title, *counts.get(t.id, (0, 0))) for t in settings.watchlist.topics]
    retired = sorted(set(counts) - {t.id for t in settings.watchlist.topics})
    rows += [(topic, "(not in the watchlist)", *counts[topic]) for topic in retired]
    sys.stdout.write(table(("topic", "title", "alerts 24h", "alerts 7d"), rows))
    return EXIT_OK
