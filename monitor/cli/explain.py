"""`monitor explain`: how files, feed entries or stored articles match every topic, as text
(coloured on a terminal, through render.py) or JSON. It writes nothing; `--article` refuses a
database that needs `monitor db upgrade`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_USAGE,
    Schema,
    config_path,
    open_store,
)
from monitor.cli.render import Output, Styled

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.match import Hit, QueryResult, TermResult
    from monitor.usecases import Explained


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    explain = commands.add_parser(
        "explain",
        parents=[common],
        help="show how files, feeds or stored articles match every topic (no writes)",
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
    explain.set_defaults(func=_explain)


def _explain(args: argparse.Namespace) -> int:
    """Needs no config with `--watchlist` (unless `--article`: the database is in the config)."""
    from monitor.app import fetch_limits
    from monitor.config import load_config, load_watchlist
    from monitor.store import peek_database_sources
    from monitor.usecases import explain_files, explain_stored, explain_url

    if not args.targets and not args.article:
        print("monitor: explain needs a FILE, a URL or --article HASH", file=sys.stderr)
        return EXIT_USAGE
    path = config_path(args)
    settings: Settings | None = None
    if args.watchlist:
        watchlist = load_watchlist(args.watchlist)
        if path.exists():
            settings = load_config(path, database_sources=peek_database_sources)
    else:
        settings = load_config(path, database_sources=peek_database_sources)
        watchlist = settings.watchlist
    folders = settings.folders if settings else ()
    results: list[Explained] = []
    for target in args.targets:
        if re.match(r"(?i)^https?://", target):
            results += explain_url(
                target, watchlist, allow_private_network=args.allow_private_network,
                limits=fetch_limits(settings.fetch) if settings is not None else None,
            )  # fmt: skip
        else:
            results += explain_files([Path(target)], watchlist, folders)
    if args.article:
        if settings is None:
            print("monitor: --article needs the config (for the database)", file=sys.stderr)
            return EXIT_USAGE
        with closing(open_store(settings, Schema.CURRENT)) as store:
            for prefix in args.article:
                results += explain_stored(store, prefix, watchlist)
    if settings is not None and settings.dedupe.near:
        results = _with_near_notes(results, settings)
    if args.json:
        json.dump([explained_json(r) for r in results], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        out = Output.to(no_color=args.no_color)
        for result in results:
            out.styled(explained_text(result, highlight=out.is_terminal))
    return EXIT_FAILURES if any(r.error for r in results) else EXIT_OK


def _with_near_notes(results: list[Explained], settings: Settings) -> list[Explained]:
    """The near-duplicate notes, from the configured database if it can be read as it is
    (explain never creates or migrates one; without it there are no notes)."""
    from monitor.app import utc_now
    from monitor.errors import StoreError
    from monitor.store import Store, database_exists
    from monitor.usecases import add_near_notes

    if not database_exists(settings.database):
        return results
    try:
        store = Store.open(settings.database)
    except StoreError:
        return results
    with closing(store):
        try:
            current, head = store.migration_status()
            if current != head:
                return results
            return add_near_notes(results, store, settings.dedupe, utc_now())
        except StoreError:
            return results


def near_line(result: Explained, now: datetime) -> str | None:
    """ "near-duplicate of v1:… (similarity 0.93, stored 2 h ago from dw-zh): no alert for
    putin" — or None when the article is no near-duplicate."""
    near = result.near
    if near is None:
        return None
    ago = _ago(now - near.root_first_seen)
    head = (
        f"near-duplicate of {near.root_hash[:19]}… (similarity {near.similarity:.2f}, "
        f"stored {ago} from {near.root_source})"
    )
    if near.suppressed:
        return f"{head}: no alert for {', '.join(near.suppressed)}"
    return f"{head}: its matched topics still alert"


def _ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def explained_json(result: Explained) -> dict[str, Any]:
    """The `--json` form of one explained target."""
    from monitor.evaluate import query_json

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
        "near": None
        if result.near is None
        else {
            "story": result.near.story_id,
            "of": result.near.root_hash,
            "source": result.near.root_source,
            "stored": result.near.root_first_seen.isoformat(),
            "similarity": round(result.near.similarity, 3),
            "no_alert_for": list(result.near.suppressed),
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
                "query": None if v.query is None else query_json(v.query),
            }
            for v in result.verdicts
        ],
    }


_QUERY_HITS_SHOWN = 3  # per term, in context; --json has them all


def explained_text(result: Explained, *, highlight: bool) -> Styled:
    """One explained target as a styled document, a blank line after it. `highlight`: hits are
    shown in colour (a terminal) instead of in [brackets] (plain text, which must not change:
    scripts read it)."""
    parts: Styled = []

    def add(text: str, style: str = "") -> None:
        parts.append((text, style))

    add(result.target, "bold")
    add("\n")
    if result.article is None:
        add(f"  skipped: {result.error}\n\n")
        return parts
    article = result.article
    add(f"  title     {article.title}\n")
    add(f"  hash      {article.content_hash}\n")
    if article.url:
        add(f"  url       {article.url}\n")
    if article.published:
        add(f"  published {article.published.isoformat()}\n")
    line = near_line(result, datetime.now(UTC))
    if line:
        add(f"  {line}\n", "yellow")

    def term_line(label: str, results: Sequence[TermResult], label_style: str = "") -> None:
        add("      ")
        add(label, label_style)
        add(": ")
        for index, r in enumerate(results):
            if index:
                add(" | ")
            if r.hits:
                found = ", ".join(dict.fromkeys(f"{h.found} ({h.field})" for h in r.hits))
                add(r.term, "green")
                add(f" → {found}")
            else:
                add(r.term, "dim")
        add("\n")

    for verdict in result.verdicts:
        add("  ")
        add(*(("✔", "green") if verdict.matched else ("✘", "red")))
        add(f" {verdict.topic.id} ({verdict.topic.title}): {verdict.reason}\n")
        shown = 0
        for term in [*(r for g in verdict.groups for r in g), *verdict.any, *verdict.vetoes]:
            for hit in term.hits[:1]:
                if shown < 4:
                    source = article.title if hit.field == "title" else article.text
                    add(f"      {hit.field}: ")
                    parts.extend(_in_context(source, hit, highlight))
                    add("\n")
                    shown += 1
        for index, group in enumerate(verdict.groups, 1):
            term_line(f"all[{index}]", group)
        if verdict.any:
            term_line("any", verdict.any)
        if verdict.regex:
            term_line("regex", verdict.regex)
        if verdict.vetoes:
            term_line("none", verdict.vetoes, "red")
        if verdict.query is not None:
            add("      query:\n")
            parts.extend(_query_tree(verdict.query, article, highlight, depth=4))
    add("\n")
    return parts


def _query_tree(node: QueryResult, article: Any, highlight: bool, depth: int) -> Styled:
    """The query as an indented tree: ✔/✘ per node, terms with their hits in context, NEAR
    with its closest pair and their distance."""
    indent = "  " * depth
    mark = ("✔", "green") if node.matched else ("✘", "red")
    parts: Styled = [(indent, ""), mark, (" ", "")]
    if node.term is not None:
        parts.append((node.term, "green" if node.hits else "dim"))
        if node.hits:
            more = len(node.hits) - _QUERY_HITS_SHOWN
            parts.append((f" ({len(node.hits)} hits)" if more > 0 else "", ""))
        parts.append(("\n", ""))
        for hit in node.hits[:_QUERY_HITS_SHOWN]:
            source = article.title if hit.field == "title" else article.text
            parts.append((f"{indent}    {hit.field}: ", ""))
            parts.extend(_in_context(source, hit, highlight))
            parts.append(("\n", ""))
        return parts
    parts.append((node.op or "", "bold"))
    if node.op is not None and node.op.startswith("NEAR/"):
        if node.pair is None:
            parts.append(("  no hit of one side (in one field)", ""))
        else:
            a, b = node.pair
            apart = "token" if node.distance == 1 else "tokens"
            parts.append(
                (f"  closest: {a.found} ({a.field}) … {b.found} ({b.field}), "
                 f"{node.distance} {apart} apart", "")
            )  # fmt: skip
    parts.append(("\n", ""))
    if node.pair is not None:
        parts.extend(_pair_in_context(node.pair, article, highlight, indent))
    for child in node.children:
        parts.extend(_query_tree(child, article, highlight, depth + 1))
    return parts


_PAIR_GAP = 160  # characters between NEAR's two hits beyond which the line shows each alone


def _pair_in_context(pair: tuple[Hit, Hit], article: Any, highlight: bool, indent: str) -> Styled:
    """NEAR's closest two hits on one line, both highlighted, with what lies between."""
    a, b = sorted(pair, key=lambda h: h.start)
    source = article.title if a.field == "title" else article.text
    a_end, b_end = a.start + len(a.found), b.start + len(b.found)
    if b.start < a_end or b.start - a_end > _PAIR_GAP:  # overlapping, or far apart
        return []

    def mark(hit: Hit) -> tuple[str, str]:
        return (hit.found, "bold yellow") if highlight else (f"[{hit.found}]", "")

    before = _flat(source[max(0, a.start - 20) : a.start]).lstrip()
    between = _flat(source[a_end : b.start])
    after = _flat(source[b_end : b_end + 20]).rstrip()
    return [
        (f"{indent}    {a.field}: …{before}", ""),
        mark(a),
        (between, ""),
        mark(b),
        (f"{after}…\n", ""),
    ]


def _in_context(text: str, hit: Hit, highlight: bool) -> Styled:
    """The hit inside ~30 characters either side, on one line, highlighted (or [bracketed])."""
    start, end = hit.start, hit.start + len(hit.found)
    before = _flat(text[max(0, start - 30) : start]).lstrip()
    after = _flat(text[end : end + 30]).rstrip()
    marked = (hit.found, "bold yellow") if highlight else (f"[{hit.found}]", "")
    return [(f"…{before}", ""), marked, (f"{after}…", "")]


def _flat(text: str) -> str:
    """`text` on one line (`one_line`), but white space at either end kept as one space: next
    to a hit it is what separates the hit from its neighbours ("[China] and [Russia]")."""
    from monitor.text import one_line

    body = one_line(text)
    head = " " if text[:1].isspace() else ""
    tail = " " if text[-1:].isspace() else ""
    return head + body + tail if body else head or tail
